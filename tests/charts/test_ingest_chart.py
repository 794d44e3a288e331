"""dlpipe-ingest: the Job runs what the values say, survives upgrades, and its
configuration is accepted by the very code that will read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dlpipe.config import load_config
from dlpipe.layout import CONFIG_DIR, CONFIG_FILE, DEFAULT_POD_ROOT
from tests.tooling import charts

CHART = charts.CHARTS / "dlpipe-ingest"
BASE = ["--set", "sharedVolume.claimName=data", "--set", "config.ingest.source=sample:digits",
        "--set", "config.ingest.dataset=digits"]  # fmt: skip


def _render(helm: str, *extra: str) -> dict[str, Any]:
    docs = charts.template(helm, charts.ValuesCase(CHART, None), *BASE, *extra)
    return {doc["kind"]: doc for doc in docs if "helm.sh/hook" not in doc["metadata"].get("annotations", {})}


@pytest.mark.parametrize("case", [c for c in charts.values_cases() if c.chart == CHART], ids=lambda c: c.id)
def test_rendered_configuration_is_accepted_by_dlpipe(helm: str, case: charts.ValuesCase, tmp_path: Path) -> None:
    config_map = next(d for d in charts.template(helm, case) if d["kind"] == "ConfigMap")
    path = tmp_path / "config.yaml"
    path.write_text(config_map["data"][CONFIG_FILE])
    config = load_config(config_file=path, environ={"HOOK_TOKEN": "t"})
    assert config["ingest"]["source"] and config["ingest"]["dataset"]


def test_job_runs_ingest_with_the_mounted_configuration(helm: str) -> None:
    out = _render(helm)
    job, config_map = out["Job"], out["ConfigMap"]
    assert job["metadata"]["name"] == config_map["metadata"]["name"]
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"] == ["ingest", f"--config={CONFIG_DIR / CONFIG_FILE}", f"--root={DEFAULT_POD_ROOT}"]
    assert {"name": "config", "configMap": {"name": config_map["metadata"]["name"]}} in pod["volumes"]
    assert yaml.safe_load(config_map["data"][CONFIG_FILE])["ingest"]["source"] == "sample:digits"
    assert pod["restartPolicy"] == "Never"


def test_upgrade_semantics(helm: str) -> None:
    first = _render(helm)["Job"]
    same = _render(helm)["Job"]
    changed = _render(helm, "--set", "config.ingest.shards=8")["Job"]
    new_image = _render(helm, "--set", "image.tag=0.2.0")["Job"]
    assert first["metadata"]["name"] == same["metadata"]["name"], "an unchanged upgrade leaves the Job alone"
    assert changed["metadata"]["name"] != first["metadata"]["name"], "changed settings: a new Job"
    assert new_image["metadata"]["name"] != first["metadata"]["name"]
    assert first["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep", "the old Job is not deleted"


def test_retry_policy(helm: str) -> None:
    spec = _render(helm, "--set", "job.backoffLimit=5", "--set", "job.activeDeadlineSeconds=600")["Job"]["spec"]
    assert spec["backoffLimit"] == 5 and spec["activeDeadlineSeconds"] == 600
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
    assert rules[1]["action"] == "FailJob" and rules[1]["onExitCodes"]["values"] == [2, 3]


def test_credentials_only_from_a_secret(helm: str) -> None:
    env = _render(helm, "--set", "s3.existingSecret=minio")["Job"]["spec"]["template"]["spec"]["containers"][0]["env"]
    by_name = {e["name"]: e for e in env}
    assert by_name["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "minio",
        "key": "AWS_SECRET_ACCESS_KEY",
    }


def test_helm_test_verifies_the_dataset(helm: str) -> None:
    docs = charts.template(helm, charts.ValuesCase(CHART, None), *BASE)
    test = next(d for d in docs if d["metadata"].get("annotations", {}).get("helm.sh/hook") == "test")
    assert test["spec"]["containers"][0]["args"][:3] == ["dataset", "verify", "digits"]


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["config.ingest.compression=zip"], "compression"),
        (["config.ingest.shards=0"], "shards"),
        (["config.ingest.sourse=x"], "sourse"),
        (["config.s3.secret_access_key=hunter2"], "secret_access_key"),
        (["config.ingest.upload=ftp://x"], "upload"),
        (["config.root=/elsewhere"], "root"),
        (["job.backoffLimit=-1"], "backoffLimit"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_bad_values_fail_naming_the_field(helm: str, sets: list[str], expected: str) -> None:
    message = charts.template_error(
        helm, CHART, "sharedVolume.claimName=data", "config.ingest.source=s", "config.ingest.dataset=d", *sets
    )
    assert expected in message, message
