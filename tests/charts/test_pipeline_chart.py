"""charts/dlpipe: one release chains the stages through the volume (each pod waits for its input in
an init container), shares the names set once, and takes `helm upgrade` / `helm rollback` the way
its README says. What running the rendered pods proves is in test_pipeline_runs.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dlpipe.config import load_config
from dlpipe.layout import CONFIG_FILE
from tests.tooling import charts

CHART = charts.CHARTS / "dlpipe"
ONE_SHOT = CHART / "ci" / "one-shot-values.yaml"
CONTINUOUS = CHART / "ci" / "continuous-values.yaml"


def _render(helm: str, values: Path, *sets: str) -> dict[tuple[str, str], dict[str, Any]]:
    extra = [arg for item in sets for arg in ("--set", item)]
    docs = charts.template(helm, charts.ValuesCase(CHART, values), *extra, release="pipeline")
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


def _one(docs: dict, kind: str, component: str) -> dict[str, Any]:
    [doc] = [
        d for (k, _), d in docs.items() if k == kind and d["metadata"]["labels"]["app.kubernetes.io/name"] == component
    ]
    return doc


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    return (spec["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else spec)["template"]["spec"]


def _config(docs: dict, pod: dict[str, Any], tmp_path: Path, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The stage's configuration file as dlpipe reads it (with ``environ``, a container's variables)."""
    name = next(v["configMap"]["name"] for v in pod["volumes"] if v["name"] == "config")
    path = tmp_path / f"{name}.yaml"
    path.write_text(docs[("ConfigMap", name)]["data"][CONFIG_FILE])
    return load_config(config_file=path, environ=environ or {})


def test_each_stage_waits_for_the_one_before_it_on_the_shared_claim(helm: str, tmp_path: Path) -> None:
    docs = _render(helm, ONE_SHOT)
    train, evaluate = _pod(_one(docs, "Job", "train")), _pod(_one(docs, "Job", "evaluate"))
    run_id = _one(docs, "Job", "train")["metadata"]["name"]  # the run id of a training Job
    [wait_dataset] = train["initContainers"]
    assert wait_dataset["args"][:3] == ["dataset", "verify", "digits"]
    [wait_export] = evaluate["initContainers"]
    assert wait_export["args"][:3] == ["export", "verify", run_id]
    assert _config(docs, evaluate, tmp_path)["run_id"] == run_id  # this chart evaluates what it trains
    assert _config(docs, evaluate, tmp_path)["evaluate"]["model_name"] == "digits"
    assert _config(docs, train, tmp_path)["train"]["dataset"] == "digits"
    assert "ingest" not in [c["name"] for c in _pod(_one(docs, "Job", "ingest")).get("initContainers", [])]
    pods = [
        _pod(d) if d["kind"] != "Pod" else d["spec"] for d in docs.values() if d["kind"] in ("Job", "Deployment", "Pod")
    ]
    claims = {
        v["persistentVolumeClaim"]["claimName"] for pod in pods for v in pod["volumes"] if "persistentVolumeClaim" in v
    }
    assert claims == {"pipeline-data"} and ("PersistentVolumeClaim", "pipeline-data") in docs
    assert not [d for d in docs.values() if "helm.sh/hook" in d["metadata"].get("annotations", {})
                and d["kind"] == "Job" and d["metadata"]["labels"]["app.kubernetes.io/name"] != "storage"]  # fmt: skip


def test_the_waits_read_the_stage_configuration_with_its_secrets(helm: str, tmp_path: Path) -> None:
    """An init container runs dlpipe on the stage's configuration file: a secret it names
    ({fromEnv: NAME}, from extraEnv) must be in the init container's env too."""
    token = {"name": "HOOK_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hooks", "key": "token"}}}
    hook = {"type": "event", "endpoint": "https://hooks.example.com/dlpipe",
            "headers": {"Authorization": {"fromEnv": "HOOK_TOKEN"}}}  # fmt: skip
    stage = {"extraEnv": [token], "config": {"events": {"endpoints": [hook]}}}
    more = charts.values_file({"train": stage, "evaluate": stage})
    rendered = charts.template(helm, charts.ValuesCase(CHART, ONE_SHOT), "--values", str(more), release="pipeline")
    docs = {(doc["kind"], doc["metadata"]["name"]): doc for doc in rendered}
    for stage in ("train", "evaluate"):
        pod = _pod(_one(docs, "Job", stage))
        [wait] = pod["initContainers"]
        environ = {env["name"]: "set" for env in wait["env"]}
        assert "HOOK_TOKEN" in environ, wait["env"]
        _config(docs, pod, tmp_path, environ)  # dlpipe reads it as the init container does, or raises


def test_an_upgrade_with_new_training_settings_is_a_new_run_and_its_evaluation(helm: str) -> None:
    before, after = _render(helm, ONE_SHOT), _render(helm, ONE_SHOT, "train.config.train.epochs=20")
    trained = {_one(d, "Job", "train")["metadata"]["name"] for d in (before, after)}
    assert len(trained) == 2
    assert {_pod(_one(d, "Job", "evaluate"))["initContainers"][0]["args"][2] for d in (before, after)} == trained
    for unchanged in ("ingest",):
        assert _one(before, "Job", unchanged)["metadata"]["name"] == _one(after, "Job", unchanged)["metadata"]["name"]
    assert _one(before, "Deployment", "serving") == _one(after, "Deployment", "serving")  # follows latest by itself
    for doc in after.values():
        if doc["kind"] == "Job" and doc["metadata"]["labels"]["app.kubernetes.io/name"] in ("train", "evaluate"):
            assert doc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"  # a running one is kept


def test_a_rollback_to_a_pinned_revision_serves_that_version_again(helm: str) -> None:
    pinned = _render(helm, ONE_SHOT, "serving.model.version=1")
    retrained = _render(helm, ONE_SHOT, "train.config.train.epochs=20")
    assert "specific { versions: 1 }" in pinned["ConfigMap", "pipeline-serving"]["data"]["models.config"]
    assert "latest { num_versions: 1 }" in retrained["ConfigMap", "pipeline-serving"]["data"]["models.config"]
    annotations = [
        _one(d, "Deployment", "serving")["spec"]["template"]["metadata"]["annotations"] for d in (pinned, retrained)
    ]
    assert annotations[0]["checksum/config"] != annotations[1]["checksum/config"]  # the rollback rolls the pods


def test_continuous_mode_runs_every_stage_on_a_schedule(helm: str, tmp_path: Path) -> None:
    docs = _render(helm, CONTINUOUS)
    assert not [
        d
        for (kind, _), d in docs.items()
        if kind == "Job" and "helm.sh/hook" not in d["metadata"].get("annotations", {})
    ]
    ingest, train, evaluate = (_one(docs, "CronJob", stage) for stage in ("ingest", "train", "evaluate"))
    assert _pod(ingest)["containers"][0]["args"][0] == "ingest"
    container = _pod(train)["containers"][0]
    assert container["args"][:2] == ["train", "--pending"]
    assert "DLPIPE_RUN_ID" not in [e["name"] for e in container["env"]]  # runs are named after their version
    assert _pod(evaluate)["containers"][0]["args"][:2] == ["evaluate", "--pending=digits"], "this pipeline's runs"
    assert all(c["spec"]["concurrencyPolicy"] == "Forbid" for c in (ingest, train, evaluate))
    assert "run_id" not in _config(docs, _pod(train), tmp_path)


@pytest.mark.parametrize("stage", ["dlpipe-train", "dlpipe-evaluate"])
def test_a_stage_installed_alone_waits_only_when_asked(helm: str, stage: str) -> None:
    case = charts.ValuesCase(charts.CHARTS / stage, charts.CHARTS / stage / "ci" / "single-values.yaml")
    jobs = [d for d in charts.template(helm, case) if d["kind"] == "Job"]
    assert jobs and not [j for j in jobs if "initContainers" in j["spec"]["template"]["spec"]]
    waiting = [d for d in charts.template(helm, case, "--set", "waitFor.enabled=true") if d["kind"] == "Job"]
    assert all(j["spec"]["template"]["spec"]["initContainers"][0]["name"].startswith("wait-") for j in waiting)
