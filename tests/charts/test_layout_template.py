"""The charts name the volume's places as dlpipe.layout does: through dlpipe-common's generated
_layout.tpl, never by writing the names out, and what they render is where the stages look."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dlpipe import layout
from tests.tooling import charts
from tools import chart_layout

TEMPLATES = sorted(p for p in charts.CHARTS.glob("*/templates/**/*") if p.is_file() and p != chart_layout.LAYOUT_TPL)
MOUNT = "/mnt/volume"  # not the default, so that a template ignoring sharedVolume.mountPath shows


def test_layout_template_is_what_the_generator_writes() -> None:
    assert not chart_layout.drift(), "run scripts/sync-chart-schemas.sh"


def test_no_other_template_writes_a_layout_name_out() -> None:
    found = {
        str(p.relative_to(charts.CHARTS)): names
        for p in TEMPLATES
        if (names := chart_layout.spelled_out(p.read_text()))
    }
    assert not found, f"include the dlpipe.layout.* templates instead: {found}"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("mountPath: /data", ["/data"]),
        ("- --config=/etc/dlpipe/config.yaml", ["/etc/dlpipe", "config.yaml"]),
        ('base_path: "{{ $root }}/models/{{ .name }}"', ["models"]),
        ("(runs/{{ .id }}/evaluation/report.html", ["runs"]),
        ("{{ $root }}/datasets", ["datasets"]),
        ("the saved_model.pb marker", ["saved_model.pb"]),
        # Look-alikes: TF Serving's REST API, its config files, the templates' own names, prose.
        ("- path: /v1/models", []),
        ("--model_config_file=/etc/tf-serving/models.config", []),
        ('{{ include "dlpipe.layout.modelsDir" $root }}', []),
        ("two would race to publish the same runs", []),
        ("mountPath: /database", []),
    ],
)
def test_spelled_out_names_finds_the_names_and_only_them(text: str, names: list[str]) -> None:
    assert chart_layout.spelled_out(text) == names


@pytest.mark.parametrize(
    "chart", [c for c in charts.chart_dirs() if charts.local_stage_charts(c) == []], ids=lambda c: c.name
)  # the pipeline chart's stages are checked as themselves
def test_default_mount_path_is_the_stages_default_root(chart: Path) -> None:
    """values.yaml cannot include a template: its default is checked against dlpipe.layout instead."""
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert values["sharedVolume"]["mountPath"] == str(layout.DEFAULT_POD_ROOT)


def _render(helm: str, chart: str, values: str, *sets: str) -> list[dict[str, Any]]:
    case = charts.ValuesCase(charts.CHARTS / chart, charts.CHARTS / chart / "ci" / values)
    return charts.template(
        helm, case, "--set", f"sharedVolume.mountPath={MOUNT}", *(a for s in sets for a in ("--set", s))
    )


def _containers(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    specs = [d["spec"]["template"]["spec"] for d in documents if d["kind"] == kind]
    return [c for spec in specs for c in spec["containers"]]


@pytest.mark.parametrize(
    ("chart", "values", "kind"),
    [
        ("dlpipe-ingest", "kind-values.yaml", "Job"),
        ("dlpipe-train", "single-values.yaml", "Job"),
        ("dlpipe-evaluate", "single-values.yaml", "Job"),
    ],
)
def test_stage_reads_its_configuration_where_the_chart_mounts_it(helm: str, chart: str, values: str, kind: str) -> None:
    documents = _render(helm, chart, values)
    config_map = next(d for d in documents if d["kind"] == "ConfigMap")
    assert list(config_map["data"]) == [layout.CONFIG_FILE]
    (container,) = _containers(documents, kind)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert (mounts["data"], mounts["config"]) == (MOUNT, str(layout.CONFIG_DIR))
    assert f"--config={layout.CONFIG_DIR / layout.CONFIG_FILE}" in container["args"]
    assert f"--root={MOUNT}" in container["args"]


def test_tensorboard_reads_the_runs_directory(helm: str) -> None:
    (container,) = _containers(
        _render(helm, "dlpipe-train", "single-values.yaml", "tensorboard.enabled=true"), "Deployment"
    )
    runs = layout.Layout(Path(MOUNT)).runs_dir
    assert f"--logdir={runs}" in container["args"]


def test_tf_serving_loads_the_models_directory(helm: str) -> None:
    from tests.tooling import tf_serving

    config_map = next(d for d in _render(helm, "dlpipe-serving", "latest-values.yaml") if d["kind"] == "ConfigMap")
    config = tf_serving.parse_model_config(config_map["data"]["models.config"]).model_config_list.config[0]
    assert config.base_path == str(layout.Layout(Path(MOUNT)).model_dir(config.name))
