"""`helm upgrade` never patches a Job's pod template, which Kubernetes refuses ("field is
immutable"): whatever reaches a Job's pod changes the Job's name (a new Job, the old one kept),
and what reaches no Job keeps it as it is (dlpipe-common's dlpipe.job.checksum)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.tooling import charts

BASE = {"dlpipe-ingest": "kind", "dlpipe-train": "single", "dlpipe-evaluate": "single"}  # ci values of a Job
STAGES = tuple(BASE)

# Changes a team makes after a first install (more memory after an OOM kill, other nodes, a token).
POD_CHANGES: list[dict[str, Any]] = [
    {"resources": {"limits": {"memory": "16Gi"}}},
    {"nodeSelector": {"pool": "big"}},
    {"tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}]},
    {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}},
    {"priorityClassName": "batch-high"},
    {"extraEnv": [{"name": "HF_HOME", "value": "/data/hf"}]},
    {"podLabels": {"team": "vision"}},
    {"podAnnotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}},
    {"commonLabels": {"cost-center": "ml"}},
    {"image": {"tag": "0.0.9"}},
    {"job": {"backoffLimit": 2}},
    {"tmpSizeLimit": "8Gi"},
    {"sharedVolume": {"mountPath": "/volume"}},
]  # fmt: skip
STAGE_POD_CHANGES: dict[str, list[dict[str, Any]]] = {
    "dlpipe-ingest": [{"s3": {"existingSecret": "other-keys"}}],
    "dlpipe-train": [{"s3": {"existingSecret": "other-keys"}}, {"waitFor": {"enabled": True, "seconds": 600}},
                     {"shmSizeLimit": "4Gi"}, {"gpus": 2}],
    "dlpipe-evaluate": [{"waitFor": {"enabled": True, "seconds": 600}}],
}  # fmt: skip
# Changes that reach no Job: they keep it, so no stage runs again.
OTHER_CHANGES: dict[str, list[dict[str, Any]]] = {
    "dlpipe-ingest": [{"networkPolicy": {"enabled": False}}, {"serviceAccount": {"annotations": {"a/b": "c"}}}],
    "dlpipe-train": [{"networkPolicy": {"enabled": False}}, {"serviceAccount": {"annotations": {"a/b": "c"}}},
                     {"tensorboard": {"enabled": True}}, {"tests": {"waitSeconds": 60}}],
    "dlpipe-evaluate": [{"networkPolicy": {"enabled": False}}, {"serviceAccount": {"annotations": {"a/b": "c"}}},
                        {"tests": {"waitSeconds": 60}}],
}  # fmt: skip


def _job(helm: str, chart: str, change: dict[str, Any]) -> dict[str, Any]:
    base = charts.ValuesCase(charts.CHARTS / chart, charts.CHARTS / chart / "ci" / f"{BASE[chart]}-values.yaml")
    values = charts.values_file(change)
    docs = charts.template(helm, base, "--values", str(values))
    [job] = [d for d in docs if d["kind"] == "Job" and "helm.sh/hook" not in d["metadata"].get("annotations", {})]
    return job


def _cases(changes: dict[str, list[dict[str, Any]]], common: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(chart, change, id=f"{chart}:{next(iter(change))}")
            for chart in STAGES for change in [*common, *changes.get(chart, [])]]  # fmt: skip


@pytest.mark.parametrize(("chart", "change"), _cases(STAGE_POD_CHANGES, POD_CHANGES))
def test_a_change_to_the_pod_is_a_new_job(helm: str, chart: str, change: dict[str, Any]) -> None:
    before, after = _job(helm, chart, {}), _job(helm, chart, change)
    assert before["spec"] != after["spec"] or before["metadata"] != after["metadata"], "the change reaches the Job"
    assert after["metadata"]["name"] != before["metadata"]["name"], "helm would patch the Job's pod template"


@pytest.mark.parametrize(("chart", "change"), _cases(OTHER_CHANGES, []))
def test_a_change_that_reaches_no_job_keeps_it(helm: str, chart: str, change: dict[str, Any]) -> None:
    assert _job(helm, chart, change) == _job(helm, chart, {})
