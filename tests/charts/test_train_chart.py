"""dlpipe-train: one pod, several GPUs, several workers; upgrades start new runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dlpipe.config import load_config
from dlpipe.layout import CONFIG_FILE
from dlpipe.train.strategy import resolve_tf_config
from tests.tooling import charts

CHART = charts.CHARTS / "dlpipe-train"
CI = {p.stem.removesuffix("-values"): charts.ValuesCase(CHART, p) for p in CHART.glob("ci/*-values.yaml")}


def _without_run_id(case: str, folder: Path) -> charts.ValuesCase:
    """The ci values with no config.run_id: the run is then the Job's."""
    values = yaml.safe_load(CI[case].values.read_text())
    values["config"].pop("run_id", None)
    path = folder / f"{case}-job-run-values.yaml"
    path.write_text(yaml.safe_dump(values))
    return charts.ValuesCase(CHART, path)


def _docs(helm: str, case: str | charts.ValuesCase, *extra: str) -> dict[str, Any]:
    rendered = charts.template(helm, CI[case] if isinstance(case, str) else case, *extra)
    return {d["kind"]: d for d in rendered if "helm.sh/hook" not in d["metadata"].get("annotations", {})}


def _pod(docs: dict[str, Any]) -> dict[str, Any]:
    return docs["Job"]["spec"]["template"]["spec"]


@pytest.mark.parametrize("case", sorted(CI))
def test_rendered_configuration_is_accepted_by_dlpipe(helm: str, case: str, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(_docs(helm, case)["ConfigMap"]["data"][CONFIG_FILE])
    assert load_config(config_file=path, environ={})["train"]["dataset"] == "digits"


def test_single_pod(helm: str, tmp_path: Path) -> None:
    docs = _docs(helm, _without_run_id("single", tmp_path))
    assert "Service" not in docs and "completionMode" not in docs["Job"]["spec"]
    pod = _pod(docs)
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    label = "metadata.labels['batch.kubernetes.io/job-name']"
    assert env["DLPIPE_RUN_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == label, "retries resume the Job's run"
    assert {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}} in pod["volumes"]


def test_multi_gpu(helm: str, tmp_path: Path) -> None:
    docs = _docs(helm, charts.ValuesCase(CHART, CHART / "examples" / "multi-gpu-values.yaml"))
    pod = _pod(docs)
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 4
    path = tmp_path / "config.yaml"
    path.write_text(docs["ConfigMap"]["data"][CONFIG_FILE])
    assert load_config(config_file=path, environ={})["train"]["gpus"] == 4, "fewer seen by TensorFlow: an error"
    assert pod["nodeSelector"] == {"kops.k8s.io/dl-instance": "true"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["command"] == ["tensorboard"]


def test_multi_worker_topology_matches_what_dlpipe_builds(helm: str) -> None:
    docs = _docs(helm, "multi-worker")
    job, service = docs["Job"], docs["Service"]
    name = job["metadata"]["name"]
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    assert _pod(docs)["subdomain"] == service["metadata"]["name"] == name
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"batch.kubernetes.io/job-name": name}
    train = yaml.safe_load(docs["ConfigMap"]["data"][CONFIG_FILE])["train"]
    # What pod 1 computes from the Job's environment: the pods' stable DNS names.
    tf_config = resolve_tf_config(train, {"JOB_COMPLETION_INDEX": "1", "JOB_NAME": name})
    assert tf_config == {
        "cluster": {"worker": [f"{name}-0.{name}:2222", f"{name}-1.{name}:2222"]},
        "task": {"type": "worker", "index": 1},
    }


def test_upgrade_starts_a_new_run_and_keeps_the_old_one(helm: str) -> None:
    first = _docs(helm, "single")["Job"]
    assert _docs(helm, "single")["Job"]["metadata"]["name"] == first["metadata"]["name"]
    for change in (["--set", "config.train.epochs=3"], ["--set", "gpus=1"], ["--set", "image.tag=0.2.0"]):
        assert _docs(helm, "single", *change)["Job"]["metadata"]["name"] != first["metadata"]["name"], change
    assert first["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_helm_test_verifies_the_export_of_this_run(helm: str, tmp_path: Path) -> None:
    def render(case: charts.ValuesCase) -> tuple[dict, dict]:
        rendered = charts.template(helm, case)
        job = next(d for d in rendered if d["kind"] == "Job")
        test = next(d for d in rendered if d["metadata"].get("annotations", {}).get("helm.sh/hook") == "test")
        return job, test

    job, test = render(_without_run_id("single", tmp_path))  # the run is the Job's
    assert test["spec"]["containers"][0]["args"][:3] == ["export", "verify", job["metadata"]["name"]]
    job, test = render(CI["single"])  # ci/single-values.yaml names its run
    assert test["spec"]["containers"][0]["args"][:3] == ["export", "verify", "digits-cnn-ci"]
    env = {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "DLPIPE_RUN_ID" not in env


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["config.train.model=transformer"], "model"),
        (["config.train.batch_size=0"], "batch_size"),
        (["gpus=-1"], "gpus"),
        (["distributed.workers=0"], "workers"),
        (["config.train.epoch=3"], "epoch"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_bad_values_fail_naming_the_field(helm: str, sets: list[str], expected: str) -> None:
    message = charts.template_error(helm, CHART, "sharedVolume.claimName=data", "config.train.dataset=digits", *sets)
    assert expected in message, message


def test_tfjob_backend(helm: str) -> None:
    case = charts.ValuesCase(CHART, CHART / "examples" / "tfjob-values.yaml")
    docs = {
        d["kind"]: d for d in charts.template(helm, case) if "helm.sh/hook" not in d["metadata"].get("annotations", {})
    }
    assert "Job" not in docs and "Service" not in docs, "the operator makes the pods and their Services"
    worker = docs["TFJob"]["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 4
    container = worker["template"]["spec"]["containers"][0]
    assert container["name"] == "tensorflow"
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"] if "valueFrom" in e}
    assert env["DLPIPE_RUN_ID"] == "metadata.labels['training.kubeflow.org/job-name']"
    train = yaml.safe_load(docs["ConfigMap"]["data"][CONFIG_FILE])["train"]
    assert "workers" not in train, "TF_CONFIG comes from the operator"
