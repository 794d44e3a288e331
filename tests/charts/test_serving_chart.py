"""dlpipe-serving: what TF Serving is given parses with its own protos; upgrades roll
pods only when the model config changes; the pod is Ready only with the version loaded."""

from __future__ import annotations

from typing import Any

import pytest

from dlpipe.layout import DEFAULT_POD_ROOT, Layout
from tests.tooling import charts, tf_serving

CHART = charts.CHARTS / "dlpipe-serving"
CI = {p.stem.removesuffix("-values"): charts.ValuesCase(CHART, p) for p in CHART.glob("ci/*-values.yaml")}


def _docs(helm: str, case: str, *extra: str) -> list[dict[str, Any]]:
    return [
        d for d in charts.template(helm, CI[case], *extra) if "helm.sh/hook" not in d["metadata"].get("annotations", {})
    ]


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
    assert "replicas" not in deployments["stable"]["spec"], "the HPA owns the stable replica count"
    service = next(d for d in docs if d["kind"] == "Service")
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
    docs = _docs(helm, "gpu")
    server = _deployments(docs)["stable"]["spec"]["template"]["spec"]["containers"][0]
    assert server["image"] == "tensorflow/serving:2.21.0-gpu"
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 1
    kinds = {d["kind"] for d in docs}
    assert {"Ingress", "NetworkPolicy", "PodDisruptionBudget"} <= kinds
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
