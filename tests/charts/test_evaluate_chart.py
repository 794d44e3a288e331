"""dlpipe-evaluate: one evaluation per Job, or continuous; its configuration is dlpipe's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dlpipe.config import load_config
from dlpipe.layout import CONFIG_FILE
from tests.tooling import charts

CHART = charts.CHARTS / "dlpipe-evaluate"
CI = {p.stem.removesuffix("-values"): charts.ValuesCase(CHART, p) for p in CHART.glob("ci/*-values.yaml")}


@pytest.mark.parametrize("case", sorted(CI))
def test_rendered_configuration_is_accepted_by_dlpipe(helm: str, case: str, tmp_path: Path) -> None:
    config_map = next(d for d in charts.template(helm, CI[case]) if d["kind"] == "ConfigMap")
    (tmp_path / "c.yaml").write_text(config_map["data"][CONFIG_FILE])
    model_name = yaml.safe_load(CI[case].values.read_text())["config"]["evaluate"]["model_name"]
    assert load_config(config_file=tmp_path / "c.yaml", environ={})["evaluate"]["model_name"] == model_name


def test_single_evaluation(helm: str) -> None:
    docs = charts.template(helm, CI["single"], "--set", "tests.requireBlessed=true")
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["ConfigMap", "Job", "NetworkPolicy", "Pod", "ServiceAccount"]
    job = next(d for d in docs if d["kind"] == "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][0] == "evaluate"
    assert job["spec"]["podFailurePolicy"]["rules"][1]["onExitCodes"]["values"] == [2, 3], "not blessed: no retries"
    test = next(d for d in docs if d["kind"] == "Pod")
    args = test["spec"]["containers"][0]["args"]
    assert args[:3] == ["blessing", "show", "digits-cnn-ci"] and "--require-blessed" in args


def test_continuous_mode(helm: str) -> None:
    docs = charts.template(helm, CI["continuous"])
    cron = next(d for d in docs if d["kind"] == "CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][:2] == [
        "evaluate",
        "--pending",
    ]  # every run on the volume: no dataset named
    named = charts.template(helm, CI["continuous"], "--set", "continuous.dataset=pets")
    pod = next(d for d in named if d["kind"] == "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"][1] == "--pending=pets"
    rules = cron["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    assert rules[0]["action"] == "Ignore" and rules[1]["onExitCodes"]["values"] == [2, 3], "the Job's retry policy"
    assert not [d for d in docs if d["kind"] == "Job"]


def test_a_run_or_continuous_mode_is_required(helm: str) -> None:
    message = charts.template_error(helm, CHART, "sharedVolume.claimName=data", "config.evaluate.model_name=digits")
    assert "config.run_id is required" in message
    message = charts.template_error(helm, CHART, "sharedVolume.claimName=data", "config.run_id=r1",
                                    "config.evaluate.thresholds={accuracy>0.9}")  # fmt: skip
    assert "thresholds" in message
