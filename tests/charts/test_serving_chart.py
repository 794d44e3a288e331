"""dlpipe-serving: what TF Serving is given parses with its own protos; upgrades roll
pods only when the model config changes; the pod is Ready only with the version loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dlpipe.layout import DEFAULT_POD_ROOT, Layout
from tests.tooling import charts, tf_serving

CHART = charts.CHARTS / "dlpipe-serving"
CI = {p.stem.removesuffix("-values"): charts.ValuesCase(CHART, p) for p in CHART.glob("ci/*-values.yaml")}


def _docs(helm: str, case: str | charts.ValuesCase, *extra: str) -> list[dict[str, Any]]:
    rendered = charts.template(helm, CI[case] if isinstance(case, str) else case, *extra)
    return [d for d in rendered if "helm.sh/hook" not in d["metadata"].get("annotations", {})]


def _deployments(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The TF Serving Deployments by role (stable, canary); not the demo page."""
    by_role = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in docs if d["kind"] == "Deployment"}
    return {role: d for role, d in by_role.items() if role in ("stable", "canary")}


@pytest.mark.parametrize("case", sorted(CI))
def test_configs_parse_with_tf_servings_protos_and_flags_exist(helm: str, case: str) -> None:
    docs = _docs(helm, case)
    data = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    for name, text in data.items():
        if name.endswith("models.config"):
            config = tf_serving.parse_model_config(text)
            assert config.model_config_list.config[0].name == "digits"
            assert config.model_config_list.config[0].base_path == str(Layout(DEFAULT_POD_ROOT).model_dir("digits"))
    tf_serving.parse_monitoring_config(data["monitoring.config"])
    tf_serving.parse_batching_config(data["batching.config"])
    for deployment in _deployments(docs).values():
        server = deployment["spec"]["template"]["spec"]["containers"][0]
        assert server["command"] == ["tensorflow_model_server"]
        flags = {arg.removeprefix("--").split("=")[0] for arg in server["args"]}
        assert flags <= tf_serving.FLAGS, f"unknown TF Serving flags: {flags - tf_serving.FLAGS}"
        config_file = next(a.split("=", 1)[1] for a in server["args"] if a.startswith("--model_config_file="))
        assert config_file.rsplit("/", 1)[1] in data


def test_pinned_version_and_canary(helm: str) -> None:
    docs = _docs(helm, "pinned-canary")
    data = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    stable = tf_serving.parse_model_config(data["models.config"]).model_config_list.config[0]
    canary = tf_serving.parse_model_config(data["canary.models.config"]).model_config_list.config[0]
    assert list(stable.model_version_policy.specific.versions) == [1] and dict(stable.version_labels) == {"stable": 1}
    assert list(canary.model_version_policy.specific.versions) == [2] and dict(canary.version_labels) == {"canary": 2}
    deployments = _deployments(docs)
    assert set(deployments) == {"stable", "canary"}
    assert deployments["canary"]["spec"]["replicas"] == 1
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "rel-dlpipe-serving")
    for deployment in deployments.values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items()), "both behind one Service"
    sidecar = deployments["canary"]["spec"]["template"]["spec"]["containers"][1]
    assert "--model=digits=2" in sidecar["args"]
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/ready"


def test_latest_follows_new_versions(helm: str) -> None:
    data = next(d for d in _docs(helm, "latest") if d["kind"] == "ConfigMap")["data"]
    config = tf_serving.parse_model_config(data["models.config"]).model_config_list.config[0]
    assert config.model_version_policy.latest.num_versions == 1
    server = _deployments(_docs(helm, "latest"))["stable"]["spec"]["template"]["spec"]["containers"][0]
    assert "--file_system_poll_wait_seconds=5" in server["args"]


def test_upgrade_semantics(helm: str) -> None:
    def pod_template(*extra: str) -> dict[str, Any]:
        return _deployments(_docs(helm, "pinned-canary", *extra))["stable"]["spec"]

    before = pod_template()
    after_version = pod_template("--set", "model.version=3")
    after_hpa = pod_template("--set", "hpa.maxReplicas=9")
    key = "checksum/config"
    assert (
        after_version["template"]["metadata"]["annotations"][key] != before["template"]["metadata"]["annotations"][key]
    )
    assert after_hpa["template"] == before["template"], "an HPA bound must not roll the pods"
    assert after_version["selector"] == before["selector"], "selector labels never change"
    assert before["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_gpu_ingress_and_network_policy(helm: str) -> None:
    docs = _docs(helm, charts.ValuesCase(CHART, CHART / "examples" / "gpu-values.yaml"))
    assert "replicas" not in _deployments(docs)["stable"]["spec"], "the HPA owns the stable replica count"
    server = _deployments(docs)["stable"]["spec"]["template"]["spec"]["containers"][0]
    assert server["image"] == "tensorflow/serving:2.21.0-gpu"
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 1
    kinds = {d["kind"] for d in docs}
    assert {"Ingress", "NetworkPolicy", "PodDisruptionBudget", "HorizontalPodAutoscaler"} <= kinds
    data = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    names = [c.name for c in tf_serving.parse_model_config(data["models.config"]).model_config_list.config]
    assert names == ["digits", "imdb"]


def test_helm_test_replays_the_warm_up_request(helm: str) -> None:
    test = next(d for d in charts.template(helm, CI["pinned-canary"]) if d["kind"] == "Pod")
    args = test["spec"]["containers"][0]["args"]
    assert args[0] == "serving-test" and "--version=1" in args and any(a.startswith("--grpc=") for a in args)


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["model.version=newest"], "version"),
        (["canary.version=-1"], "canary"),
        (["model.name=Digits"], "name"),
        (["replicaCount=0"], "replicaCount"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_bad_values_fail_naming_the_field(helm: str, sets: list[str], expected: str) -> None:
    message = charts.template_error(helm, CHART, "sharedVolume.claimName=data", "model.name=digits", *sets)
    assert expected in message, message


def test_demo_page(helm: str) -> None:
    docs = _docs(helm, "latest")
    demo = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-demo"))
    args = demo["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "serving-demo" and "--model=digits" in args
    assert any(d["kind"] == "Service" and d["metadata"]["name"].endswith("-demo") for d in docs)


# -- version policy and labels (TF Serving's model_version_policy and version_labels) --------------------------

BASE = ("sharedVolume.claimName=data", "model.name=digits")


def _render(helm: str, *sets: str, values: Path | None = None) -> list[dict[str, Any]]:
    """The chart with BASE and ``sets``: every manifest, the helm test Pod included."""
    extra = [arg for item in (*BASE, *sets) for arg in ("--set", item)]
    return charts.template(helm, charts.ValuesCase(CHART, values), *extra)


def _configs(docs: list[dict[str, Any]]) -> dict[str, Any]:
    data = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    return {name: tf_serving.parse_model_config(text) for name, text in data.items() if name.endswith("models.config")}


@pytest.mark.parametrize(
    ("sets", "policy", "labels"),
    [
        ((), "latest { num_versions: 1 }", {}),
        (("model.version=4",), "specific { versions: 4 }", {"stable": 4}),
        (("model.versionPolicy.latest=2", "model.labels.stable=7"), "latest { num_versions: 2 }", {"stable": 7}),
        (("model.versionPolicy.all=true",), "all { }", {}),
        (("model.versionPolicy.specific={3,4}", "model.labels.stable=3", "model.labels.canary=4"),
         "specific { versions: 3 versions: 4 }", {"stable": 3, "canary": 4}),
        (("model.version=4", "model.labels.stable=4", "model.labels.previous=4"), "specific { versions: 4 }",
         {"stable": 4, "previous": 4}),
        (("model.version=9007199254740991",), "specific { versions: 9007199254740991 }", {"stable": 9007199254740991}),
    ],
    ids=lambda v: ",".join(v) if isinstance(v, tuple) else None,
)  # fmt: skip
def test_version_policy_and_labels_render_as_tf_serving_reads_them(
    helm: str, sets: tuple[str, ...], policy: str, labels: dict[str, int]
) -> None:
    config = _configs(_render(helm, *sets))["models.config"].model_config_list.config[0]
    assert " ".join(str(config.model_version_policy).split()) == policy
    assert dict(config.version_labels) == labels


def test_a_version_from_a_values_file_renders_as_an_integer(helm: str, tmp_path: Path) -> None:
    """YAML numbers reach templates as floats: 20250101123456 must not become 2.0250101123456e+13."""
    values = tmp_path / "values.yaml"
    values.write_text("model:\n  version: 20250101123456\n  labels: {previous: 20250101123456}\n")
    docs = _render(helm, values=values)
    config = _configs(docs)["models.config"].model_config_list.config[0]
    assert list(config.model_version_policy.specific.versions) == [20250101123456]
    assert dict(config.version_labels) == {"stable": 20250101123456, "previous": 20250101123456}
    sidecar = _deployments(docs)["stable"]["spec"]["template"]["spec"]["containers"][1]
    assert "--model=digits=20250101123456" in sidecar["args"]


def test_more_models_take_policies_and_labels_and_the_canary_leaves_them_alone(helm: str) -> None:
    more = (
        "models[0].name=imdb",
        "models[0].versionPolicy.specific={5,6}",
        "models[0].labels.best=5",
        "models[1].name=text",
    )
    docs = _render(helm, "model.version=1", "canary.version=2", *more)
    configs = _configs(docs)
    stable, canary = (configs[k].model_config_list.config for k in ("models.config", "canary.models.config"))
    assert [c.name for c in stable] == [c.name for c in canary] == ["digits", "imdb", "text"]
    assert stable[1] == canary[1] and stable[2] == canary[2], "only the main model has a canary"
    assert list(stable[1].model_version_policy.specific.versions) == [5, 6] and dict(stable[1].version_labels) == {
        "best": 5
    }
    assert stable[2].model_version_policy.latest.num_versions == 1, "no version: the newest, as for model"
    assert dict(canary[0].version_labels) == {"canary": 2} and dict(stable[0].version_labels) == {"stable": 1}


def test_labels_can_name_versions_still_loading_and_never_move_in_a_running_server(helm: str) -> None:
    """TF Serving assigns labels before it loads any version (server_core.cc, ReloadConfig then
    UpdateModelVersionLabelMap): without --allow_version_labels_for_unavailable_models a config with
    labels fails the start. That flag refuses to move a label already assigned to a version not yet
    available, which only a re-read config could ask: the chart never has the config re-read
    (no --model_config_file_poll_wait_seconds); a changed config rolls new pods instead."""
    docs = _render(helm, "model.versionPolicy.specific={1,2}", "model.labels.stable=1", "model.labels.next=2",
                   "canary.version=3")  # fmt: skip
    assert all(c.version_labels for config in _configs(docs).values() for c in config.model_config_list.config[:1])
    for deployment in _deployments(docs).values():
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        assert "--allow_version_labels_for_unavailable_models=true" in args
        assert not any(a.startswith("--model_config_file_poll_wait_seconds") for a in args)


@pytest.mark.parametrize(
    ("sets", "ready", "tested"),
    [
        ((), "latest", "latest"),
        (("model.version=4",), "4", "4"),
        # A request naming no version gets the newest; the pods are Ready once every version is.
        (("model.versionPolicy.specific={3,12,4}",), "3,12,4", "12"),
        (("model.versionPolicy.latest=2",), "latest", "latest"),
    ],
    ids=lambda v: ",".join(v) if isinstance(v, tuple) else None,
)
def test_sidecar_and_helm_test_expect_the_version_a_plain_request_gets(
    helm: str, sets: tuple[str, ...], ready: str, tested: str
) -> None:
    docs = _render(helm, *sets)
    sidecar = _deployments(docs)["stable"]["spec"]["template"]["spec"]["containers"][1]
    assert f"--model=digits={ready}" in sidecar["args"]
    test = next(d for d in docs if d["kind"] == "Pod")
    assert f"--version={tested}" in test["spec"]["containers"][0]["args"]


def test_with_a_canary_the_helm_test_asks_the_stable_pods_alone(helm: str) -> None:
    docs = charts.template(helm, CI["pinned-canary"])
    args = next(d for d in docs if d["kind"] == "Pod")["spec"]["containers"][0]["args"]
    assert "--rest=http://rel-dlpipe-serving-stable:8501" in args and "--grpc=rel-dlpipe-serving-stable:8500" in args
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for role, deployment in _deployments(docs).items():
        selector = services[f"rel-dlpipe-serving-{role}"]["spec"]["selector"]
        assert selector == deployment["spec"]["selector"]["matchLabels"], f"the {role} Service selects its pods alone"


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["model.version=3", "model.versionPolicy.latest=2"], "model.version=3 and model.versionPolicy"),
        (["model.version=3", "model.labels.stable=4"], "model.labels.stable=4 and model.version=3"),
        (["model.version=3", "model.labels.canary=4"], "model.labels.canary=4 names a version that is never loaded"),
        (["model.versionPolicy.specific={1,2}", "model.labels.n=5"], "model.versionPolicy.specific serves only 1, 2"),
        (["models[0].name=imdb", "models[0].version=2", "models[0].labels.x=1"], "models[0].labels.x=1"),
        (["canary.version=5", "model.labels.canary=5"], "model.labels.canary and canary.version=5"),
        (["model.versionPolicy.latest=2", "model.versionPolicy.all=true"], "versionPolicy"),
        (["model.versionPolicy.specific={1,1}"], "specific"),
        (["model.versionPolicy.specific={}"], "specific"),
        (["model.versionPolicy.latest=0"], "latest"),
        (["model.versionPolicy.all=false"], "all"),
        (["model.versionPolicy.newest=1"], "newest"),
        (["model.labels.-x=1"], "-x"),
        (["model.labels.stable=0"], "stable"),
        (["canary.weight=101"], "weight"),
        (["gateway.enabled=true"], "gateway.parentRefs is required"),
        (["gateway.parentRefs[0].namespace=infra"], "name"),
        (["gateway.hostnames={Models.example.com}"], "hostnames"),
    ],
    ids=lambda v: ",".join(v) if isinstance(v, list) else None,
)  # fmt: skip
def test_bad_policies_labels_and_routes_fail_naming_the_field(helm: str, sets: list[str], expected: str) -> None:
    message = charts.template_error(helm, CHART, *BASE, *sets)
    assert expected in message, message


def test_canary_weight_moves_requests_not_pods(helm: str) -> None:
    gateway = ("canary.version=2", "gateway.enabled=true", "gateway.parentRefs[0].name=public")
    before, after = _render(helm, *gateway), _render(helm, *gateway, "canary.weight=100")
    for role in ("stable", "canary"):
        assert _deployments(before)[role]["spec"] == _deployments(after)[role]["spec"], "a new weight rolls no pod"
    weights = {
        ref["name"]: ref["weight"]
        for d in after
        if d["kind"] in ("HTTPRoute", "GRPCRoute")
        for ref in d["spec"]["rules"][-1]["backendRefs"]
    }
    assert weights == {"rel-dlpipe-serving-stable": 0, "rel-dlpipe-serving-canary": 100}


@pytest.mark.parametrize(
    ("sets", "tf_serving_image"),
    [
        ([], "tensorflow/serving:2.21.0"),
        (["image.registry=mirror.example.com"], "mirror.example.com/tensorflow/serving:2.21.0"),
    ],
)
def test_a_private_registry_rewrites_only_dlpipes_own_images(helm: str, sets: list[str], tf_serving_image: str) -> None:
    """global.imageRegistry holds the pushed dlpipe images; TF Serving comes from where image.registry says."""
    extra = [a for s in ["global.imageRegistry=registry.example.com/ml", *sets] for a in ("--set", s)]
    docs = charts.template(helm, CI["latest"], *extra)
    pods = [d["spec"]["template"]["spec"] for d in docs if d["kind"] == "Deployment"]
    pods += [d["spec"] for d in docs if d["kind"] == "Pod"]
    images = {c["name"]: c["image"] for p in pods for c in p.get("initContainers", []) + p["containers"]}
    upstream = {name: image for name, image in images.items() if "tensorflow/serving" in image}
    assert upstream and set(upstream.values()) == {tf_serving_image}, images
    ours = set(images.values()) - set(upstream.values())
    assert ours and all(image.startswith("registry.example.com/ml/dlpipe/") for image in ours), images


@pytest.mark.parametrize(("drain", "sleeps"), [((), ["sleep", "10"]), (("drainSeconds=0",), None)])
def test_a_stopping_pod_keeps_answering_until_it_has_left_the_endpoints(
    helm: str, drain: tuple[str, ...], sleeps: list[str] | None
) -> None:
    for deployment in _deployments(_render(helm, "canary.version=2", *drain)).values():
        pod = deployment["spec"]["template"]["spec"]
        tf_serving = pod["containers"][0]
        assert tf_serving.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command") == sleeps
        assert pod["terminationGracePeriodSeconds"] > int((sleeps or ["", "0"])[1]), "the sleep ends before the kill"
