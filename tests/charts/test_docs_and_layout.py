"""Each chart is complete (DESIGN.md's list) and documents every value."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tooling import charts
from tools import chart_readme

APP_CHARTS = charts.chart_dirs()


@pytest.mark.parametrize("chart", APP_CHARTS, ids=lambda c: c.name)
def test_chart_has_the_conventional_files(chart: Path) -> None:
    for name in ("Chart.yaml", "values.yaml", "values.schema.json", "README.md", "templates/NOTES.txt"):
        assert (chart / name).is_file(), f"{chart.name} lacks {name}"
    assert list((chart / "templates" / "tests").glob("*.yaml")), f"{chart.name} has no helm test"
    assert list((chart / "ci").glob("*-values.yaml")), f"{chart.name} has no ci/*-values.yaml for chart-testing"


@pytest.mark.parametrize("chart", APP_CHARTS, ids=lambda c: c.name)
def test_every_value_is_documented(chart: Path) -> None:
    missing = chart_readme.undocumented(chart)
    assert not missing, f"add `## @param` lines to {chart.name}/values.yaml for: {missing}"


@pytest.mark.parametrize("chart", APP_CHARTS, ids=lambda c: c.name)
def test_readme_parameter_table_is_current(chart: Path) -> None:
    current = (chart / "README.md").read_text()
    assert current == chart_readme.updated_readme(chart), "run scripts/chart-docs.sh"


def test_readme_generator_flags_unknown_params(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("## @param a.b Thing\na:\n  c: 1\n")
    assert chart_readme.undocumented(tmp_path) == ["a.c"]
    with pytest.raises(KeyError):
        chart_readme.render(tmp_path)
