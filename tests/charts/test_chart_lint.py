"""What `ct lint` checks, offline: yamale on Chart.yaml with etc/chart_schema.yaml,
yamllint with etc/lintconf.yaml on Chart.yaml and the values files (helm lint
per ci values file is in test_render_and_validate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tooling import charts
from tools import chart_lint
from tools.charts import ETC

ALL_CHARTS = charts.chart_dirs(kind=None)


@pytest.mark.parametrize("chart", ALL_CHARTS, ids=lambda c: c.name)
def test_chart_yaml_matches_ct_schema(chart: Path) -> None:
    assert not chart_lint.chart_yaml_problems(chart, ETC / "chart_schema.yaml")


@pytest.mark.parametrize("chart", ALL_CHARTS, ids=lambda c: c.name)
def test_yaml_files_pass_yamllint(chart: Path) -> None:
    problems = chart_lint.yamllint_problems(chart, ETC / "lintconf.yaml")
    assert not problems, "\n".join(problems)


def test_the_checks_catch_mistakes(tmp_path: Path) -> None:
    chart = tmp_path / "dlpipe-broken"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v1\nname: dlpipe-broken\nversion: 1.0\n")
    (chart / "values.yaml").write_text("key:   value \n")
    assert chart_lint.chart_yaml_problems(chart, ETC / "chart_schema.yaml")
    assert any("trailing spaces" in p for p in chart_lint.yamllint_problems(chart, ETC / "lintconf.yaml"))


@pytest.mark.parametrize("chart", ALL_CHARTS, ids=lambda c: c.name)
def test_chart_versions_line_up(chart: Path) -> None:
    import yaml

    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    common = yaml.safe_load((charts.CHARTS / "dlpipe-common" / "Chart.yaml").read_text())
    for dep in meta.get("dependencies", []):
        if dep["name"] == "dlpipe-common":
            assert dep["version"] == common["version"], (
                f"{chart.name} depends on a dlpipe-common that is not in the repo"
            )
            assert dep["repository"] == "file://../dlpipe-common"
