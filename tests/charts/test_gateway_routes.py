"""The serving chart's Gateway API routes, checked against the Gateway API's own CRDs (vendored in
crds/gateway-api-v1.3.0, see its README), and the weighted canary they make."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.tooling import charts, crds

CHART = charts.CHARTS / "dlpipe-serving"
CRDS = crds.FOLDER / "gateway-api-v1.3.0"
SERVED = "gateway.networking.k8s.io/v1"
CHECKSUMS = {
    "gateway.networking.k8s.io_httproutes.yaml": "a4ecf600c7e0bfd3cdb24e6411938d9b330117a26675f303cc6d9a407cb257d1",
    "gateway.networking.k8s.io_grpcroutes.yaml": "5867279c3cfd77377fe7e9255b22751f17592242b9b5e7485c74b13b268d13c5",
}
KINDS = ("HTTPRoute", "GRPCRoute")
GATEWAY = ("gateway.enabled=true", "gateway.parentRefs[0].name=public", "gateway.parentRefs[0].namespace=gateways")


# The CEL rules of the CRDs that concern what the chart renders, as plain Python.
_PATH_CHARACTERS = re.compile(r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$")
_GRPC_SERVICE = re.compile(r"^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$", re.IGNORECASE)
_GRPC_METHOD = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")


def cel_problems(route: dict[str, Any]) -> list[str]:
    spec, problems = route["spec"], []
    parents = [
        (p.get("group", "gateway.networking.k8s.io"), p.get("kind", "Gateway"), p.get("namespace", ""), p["name"])
        for p in spec.get("parentRefs", [])
    ]
    for parent in set(parents):
        sections = [spec["parentRefs"][i].get("sectionName", "") for i, p in enumerate(parents) if p == parent]
        if len(sections) > 1 and ("" in sections or len(set(sections)) < len(sections)):
            problems.append(f"parentRefs: sectionName must be set and unique for {parent}")
    rules = spec.get("rules", [])
    if sum(len(rule.get("matches", [])) for rule in rules) > 128:
        problems.append("more than 128 matches across rules")
    for rule in rules:
        for ref in rule.get("backendRefs", []):
            if not ref.get("group") and ref.get("kind", "Service") == "Service" and "port" not in ref:
                problems.append(f"backendRef {ref['name']}: a Service needs a port")
        for match in rule.get("matches", []):
            path = match.get("path", {})
            if path.get("type", "PathPrefix") in ("Exact", "PathPrefix") and "value" in path:
                value = path["value"]
                bad = (not value.startswith("/") or any(s in value for s in ("//", "/./", "/../", "%2f", "%2F", "#"))
                       or value.endswith(("/..", "/.")) or not _PATH_CHARACTERS.match(value))  # fmt: skip
                if bad:
                    problems.append(f"path {value!r} is not a valid {path.get('type')} value")
            method = match.get("method", {})
            if method.get("type", "Exact") == "Exact":
                if "service" in method and not _GRPC_SERVICE.match(method["service"]):
                    problems.append(f"gRPC service {method['service']!r}")
                if "method" in method and not _GRPC_METHOD.match(method["method"]):
                    problems.append(f"gRPC method {method['method']!r}")
    return problems


def problems(route: dict[str, Any]) -> list[str]:
    errors = crds.validator(route["kind"], SERVED).iter_errors(route)
    found = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    return found + cel_problems(route)


def _routes(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs if d["kind"] in KINDS}


def _render(helm: str, *sets: str, values: Path | None = None) -> list[dict[str, Any]]:
    base = ("sharedVolume.claimName=data", "model.name=digits") if values is None else ()
    return charts.template(helm, charts.ValuesCase(CHART, values), *[a for s in (*base, *sets) for a in ("--set", s)])


# -- the vendored definitions -------------------------------------------------------------------------------


def test_the_crds_are_the_released_ones() -> None:
    for name, digest in CHECKSUMS.items():
        assert hashlib.sha256((CRDS / name).read_bytes()).hexdigest() == digest, f"{name} differs from v1.3.0"
        assert digest in (CRDS / "README.md").read_text()
    for kind in KINDS:
        assert crds.crd(kind)["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == "v1.3.0"
        assert crds.crd(kind)["spec"]["names"]["kind"] == kind


def test_the_checks_refuse_what_an_api_server_would() -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "r"},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
                       "backendRefs": [{"name": "svc", "port": 8501, "weight": 10}]}],
        },
    }  # fmt: skip
    assert problems(route) == []
    for change, expected in [
        (lambda s: s["rules"][0]["backendRefs"][0].update(weight=-1), "-1 is less than the minimum"),
        (lambda s: s["rules"][0]["backendRefs"][0].update(wieght=1), "Additional properties"),
        (lambda s: s["rules"][0]["backendRefs"][0].pop("port"), "a Service needs a port"),
        (lambda s: s["rules"][0]["matches"][0]["path"].update(value="v1//x"), "not a valid PathPrefix"),
        (lambda s: s["parentRefs"].append({"name": "gw"}), "sectionName must be set"),
        (lambda s: s.update(hostnames=["Bad_Host"]), "does not match"),
    ]:
        broken = copy.deepcopy(route)
        change(broken["spec"])
        assert any(expected in p for p in problems(broken)), (expected, problems(broken))


def test_values_schema_takes_parent_refs_and_hostnames_as_the_crd_does() -> None:
    """The chart checks gateway.parentRefs and gateway.hostnames at helm install by the CRD's own rules."""

    def plain(node: Any) -> Any:
        drop = {"description", "default", "format", "x-kubernetes-validations", "x-kubernetes-list-type"}
        if isinstance(node, dict):
            return {k: plain(v) for k, v in node.items() if k not in drop and k != "additionalProperties"}
        return [plain(v) for v in node] if isinstance(node, list) else node

    values = json.loads((CHART / "values.schema.json").read_text())["properties"]["gateway"]["properties"]
    for kind in KINDS:
        spec = next(v for v in crds.crd(kind)["spec"]["versions"] if v["name"] == "v1")["schema"]["openAPIV3Schema"]
        for field in ("parentRefs", "hostnames"):
            assert plain(values[field]) == plain(spec["properties"]["spec"]["properties"][field]), (kind, field)
    assert values["parentRefs"]["items"]["additionalProperties"] is False


# -- what the chart renders -----------------------------------------------------------------------------------

CASES = {
    "gateway, no canary": GATEWAY,
    "gateway, canary": (*GATEWAY, "model.version=1", "canary.version=2"),
    "gateway, canary and labels": (*GATEWAY, "model.versionPolicy.specific={1,3}", "model.labels.stable=1",
                                   "model.labels.previous=3", "canary.version=4", "canary.weight=25",
                                   "gateway.parentRefs[1].name=public", "gateway.parentRefs[1].sectionName=grpc",
                                   "gateway.parentRefs[0].sectionName=https", "gateway.hostnames={models.example.com}"),
    "gateway, REST only": (*GATEWAY, "gateway.grpc=false"),
}  # fmt: skip


@pytest.mark.parametrize(
    "case",
    [*CASES, *(p.name for p in sorted(CHART.glob("*/*-values.yaml")) if p.parent.name in ("ci", "examples"))],
)
def test_every_rendered_route_is_valid_for_the_gateway_api(helm: str, case: str) -> None:
    docs = _render(helm, *CASES[case]) if case in CASES else _render(helm, values=next(CHART.glob(f"*/{case}")))
    routes = _routes(docs)
    if "gateway" in case:
        assert routes, "gateway.enabled renders routes"
    services = {d["metadata"]["name"]: {p["port"] for p in d["spec"]["ports"]} for d in docs if d["kind"] == "Service"}
    for route in routes.values():
        assert not problems(route), problems(route)
        assert route["metadata"]["namespace"] == "ml"
        for rule in route["spec"]["rules"]:
            for ref in rule["backendRefs"]:
                assert ref["port"] in services.get(ref["name"], set()), f"{ref} is no Service port the chart renders"
    if case == "gateway, REST only":
        assert set(routes) == {"HTTPRoute"}


def test_canary_weight_splits_requests_as_kserves_canary_traffic_percent(helm: str) -> None:
    routes = _routes(_render(helm, *CASES["gateway, canary"], "canary.weight=10"))
    for kind, port in (("HTTPRoute", 8501), ("GRPCRoute", 8500)):
        split = routes[kind]["spec"]["rules"][-1]["backendRefs"]
        assert {r["name"]: (r["port"], r["weight"]) for r in split} == {
            "rel-dlpipe-serving-stable": (port, 90),
            "rel-dlpipe-serving-canary": (port, 10),
        }, split
    plain = _routes(_render(helm, *GATEWAY))
    assert plain["HTTPRoute"]["spec"]["rules"] == [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/v1/models"}}],
         "backendRefs": [{"name": "rel-dlpipe-serving", "port": 8501}]}
    ], "no canary: every request to the chart's Service"  # fmt: skip


def _backend_for(route: dict[str, Any], path: str) -> list[str]:
    """The Services an HTTPRoute sends ``path`` to, by the Gateway API's precedence: an Exact match,
    else the longest PathPrefix match (whole path segments)."""
    best: tuple[int, int] | None = None
    chosen: list[str] = []
    for rule in route["spec"]["rules"]:
        for match in rule["matches"]:
            kind, value = match["path"]["type"], match["path"]["value"]
            hit = path == value if kind == "Exact" else path == value or path.startswith(value.rstrip("/") + "/")
            rank = (1 if kind == "Exact" else 0, len(value))
            if hit and (best is None or rank > best):
                best, chosen = rank, [ref["name"] for ref in rule["backendRefs"]]
    return chosen


@pytest.mark.parametrize(
    ("path", "services"),
    [
        ("/v1/models/digits/labels/canary", ["canary"]),
        ("/v1/models/digits/labels/canary:predict", ["canary"]),
        ("/v1/models/digits/labels/canary/metadata", ["canary"]),
        ("/v1/models/digits/versions/4:classify", ["canary"]),
        ("/v1/models/digits/labels/stable:regress", ["stable"]),
        ("/v1/models/digits/labels/previous/metadata", ["stable"]),
        ("/v1/models/digits/versions/1:predict", ["stable"]),
        ("/v1/models/digits/versions/3", ["stable"]),
        ("/v1/models/digits/versions/30:predict", ["stable", "canary"]),  # not served: either answers 404
        ("/v1/models/digits/labels/canaryx:predict", ["stable", "canary"]),
        ("/v1/models/digits:predict", ["stable", "canary"]),
        ("/v1/models/imdb/labels/canary:predict", ["stable", "canary"]),
    ],
)
def test_rest_paths_naming_a_label_or_version_reach_the_pods_that_serve_it(
    helm: str, path: str, services: list[str]
) -> None:
    """Through the chart's Service, /labels/canary would reach the stable pods by weight, which know no
    such label (400); the HTTPRoute sends it to the canary's pods alone."""
    route = _routes(_render(helm, *CASES["gateway, canary and labels"]))["HTTPRoute"]
    assert _backend_for(route, path) == [f"rel-dlpipe-serving-{s}" for s in services]


def test_grpc_route_exposes_the_client_calls_only(helm: str) -> None:
    """Not ModelService.HandleReloadConfigRequest: through a Gateway anyone could replace the served models."""
    route = _routes(_render(helm, *CASES["gateway, canary"]))["GRPCRoute"]
    assert route["spec"]["rules"][0]["matches"] == [
        {"method": {"service": "tensorflow.serving.PredictionService"}},
        {"method": {"service": "tensorflow.serving.ModelService", "method": "GetModelStatus"}},
    ]
