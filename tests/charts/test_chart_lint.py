"""What `ct lint` checks, offline: yamale on Chart.yaml with etc/chart_schema.yaml,
yamllint with etc/lintconf.yaml on Chart.yaml and the values files (helm lint
per ci values file is in test_render_and_validate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yamale
from yamllint import linter
from yamllint.config import YamlLintConfig

from tests.tooling import charts

ALL_CHARTS = charts.chart_dirs(kind=None)
SCHEMA = yamale.make_schema(str(charts.REPO / "etc" / "chart_schema.yaml"))
LINT_CONFIG = YamlLintConfig(file=str(charts.REPO / "etc" / "lintconf.yaml"))


def _yaml_files(chart: Path) -> list[Path]:
    files = [chart / "Chart.yaml", chart / "values.yaml"]
    return files + sorted(chart.glob("ci/*.yaml")) + sorted(chart.glob("examples/*.yaml"))


@pytest.mark.parametrize("chart", ALL_CHARTS, ids=lambda c: c.name)
def test_chart_yaml_matches_ct_schema(chart: Path) -> None:
    data = yamale.make_data(str(chart / "Chart.yaml"))
    yamale.validate(SCHEMA, data)  # raises with every problem listed


@pytest.mark.parametrize("chart", ALL_CHARTS, ids=lambda c: c.name)
def test_yaml_files_pass_yamllint(chart: Path) -> None:
    problems = []
    for path in _yaml_files(chart):
        for problem in linter.run(path.read_text(), LINT_CONFIG, str(path)):
            problems.append(f"{path.relative_to(charts.REPO)}:{problem.line}:{problem.column} {problem.desc}")
    assert not problems, "\n".join(problems)


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
