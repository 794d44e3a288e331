"""Where the charts are, which values files exercise them, and how to ask helm about them.

Every tool here and the test suite find charts and their cases the same way: an application
chart is rendered with its defaults (unless Chart.yaml declares values it cannot default),
with each ``ci/*-values.yaml`` (the modes chart-testing installs on kind) and with each
``examples/*-values.yaml`` (modes kind cannot install, e.g. EFS or GPUs).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import tomllib
import yaml

REPO = Path(__file__).resolve().parents[1]
CHARTS = REPO / "charts"
ETC = REPO / "etc"


class ToolError(Exception):
    """A problem the caller can fix (no helm, a chart that does not render); one line."""


def package_version() -> str:
    """The version in pyproject.toml: charts and images are versioned with the package."""
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


@dataclass(frozen=True)
class ValuesCase:
    chart: Path
    values: Path | None  # None: the chart's defaults

    @property
    def id(self) -> str:
        return f"{self.chart.name}:{self.values.relative_to(self.chart) if self.values else 'defaults'}"


def chart_dirs(charts: Path = CHARTS, kind: str | None = "application") -> list[Path]:
    """The charts under ``charts`` of a type (``application``, ``library``), or all with ``None``."""
    found = []
    for chart_yaml in sorted(charts.glob("*/Chart.yaml")):
        meta = yaml.safe_load(chart_yaml.read_text())
        if kind is None or meta.get("type", "application") == kind:
            found.append(chart_yaml.parent)
    return found


def required_values(chart: Path) -> list[str]:
    """Values a chart cannot default (Chart.yaml annotation ``dlpipe.dev/required-values``)."""
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    listed = meta.get("annotations", {}).get("dlpipe.dev/required-values", "")
    return [name for name in listed.split(",") if name]


def values_cases(charts: Path = CHARTS) -> list[ValuesCase]:
    cases = []
    for chart in chart_dirs(charts):
        if not required_values(chart):
            cases.append(ValuesCase(chart, None))
        for pattern in ("ci/*-values.yaml", "examples/*-values.yaml"):
            cases.extend(ValuesCase(chart, path) for path in sorted(chart.glob(pattern)))
    return cases


def local_dependencies(chart: Path) -> list[Path]:
    """The charts a chart depends on through ``file://`` paths (the library chart, stage charts)."""
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    return [
        (chart / dep["repository"].removeprefix("file://")).resolve()
        for dep in meta.get("dependencies", [])
        if dep.get("repository", "").startswith("file://")
    ]


def build_order(charts: list[Path]) -> list[Path]:
    """``charts`` and what they depend on, each after its dependencies: ``helm dependency build`` packs a
    ``file://`` dependency as its folder is, so a stage chart's own ``charts/`` must be built before the
    pipeline chart packs the stage chart."""
    ordered: list[Path] = []

    def visit(chart: Path) -> None:
        if chart.resolve() not in ordered:
            for dependency in local_dependencies(chart):
                visit(dependency)
            ordered.append(chart.resolve())

    for chart in charts:
        visit(chart)
    return ordered


def build_dependencies(binary: str, *charts: Path, env: dict[str, str] | None = None) -> None:
    """``helm dependency update`` of ``charts`` and, first, of every chart they depend on: ``update``, not
    ``build``, so that a Chart.lock left by an earlier version of a dependency is rewritten, not refused."""
    for each in build_order(list(charts)):
        if local_dependencies(each):
            result = helm(binary, "dependency", "update", "--skip-refresh", str(each), env=env)
            if result.returncode != 0:
                raise ToolError(f"{each.name}: helm dependency update failed: {result.stderr.strip()}")


def arguments(prog: str, doc: str) -> argparse.ArgumentParser:
    """A chart tool's command line: the first paragraph of its docstring, and ``--charts``."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument("--charts", type=Path, default=CHARTS, help="folder of the charts (default: the repository's)")
    return parser


def find_helm() -> str:
    """``helm`` on PATH, else ``helm4`` or ``helm3`` (what scripts/setup.sh puts in .tools/bin)."""
    helm = shutil.which("helm") or shutil.which("helm4") or shutil.which("helm3")
    if helm is None:
        raise ToolError("no helm on PATH: install Helm 3 or 4 (scripts/setup.sh puts both in .tools/bin)")
    return helm


def helm(binary: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, *args], capture_output=True, text=True, env=env)


def render(binary: str, case: ValuesCase, *extra: str, release: str = "rel", env: dict[str, str] | None = None) -> str:
    """``helm template`` of a case in namespace ``ml``: the manifests as one YAML stream."""
    args = ["template", release, str(case.chart), "--namespace", "ml"]
    if case.values:
        args += ["--values", str(case.values)]
    result = helm(binary, *args, *extra, env=env)
    if result.returncode != 0:
        raise ToolError(f"{case.id}: helm template failed: {result.stderr.strip()}")
    return result.stdout
