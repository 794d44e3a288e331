"""The charts for the tests: found and linted by ``tools`` (as scripts/charts.sh does), rendered
with helm 3 and helm 4 from .tools/bin, in caches of their own."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tools.chart_lint import kube_versions
from tools.charts import CHARTS, REPO, ValuesCase, chart_dirs, render, required_values, values_cases

__all__ = ["CHARTS", "REPO", "ValuesCase", "chart_dirs", "kube_versions", "required_values", "values_cases"]

TOOLS = REPO / ".tools" / "bin"
HELM_MAJORS = (3, 4)


def representative_case(chart: Path) -> ValuesCase:
    """The defaults, or the first ci values file where the defaults alone cannot render."""
    if not required_values(chart):
        return ValuesCase(chart, None)
    return ValuesCase(chart, sorted(chart.glob("ci/*-values.yaml"))[0])


def helm_binary(major: int) -> str | None:
    """``.tools/bin/helm<major>`` from scripts/setup.sh, else a matching ``helm`` on PATH."""
    candidate = TOOLS / f"helm{major}"
    if candidate.exists():
        return str(candidate)
    on_path = shutil.which("helm")
    if on_path and helm_version(on_path).startswith(f"v{major}."):
        return on_path
    return None


def helm_version(binary: str) -> str:
    result = subprocess.run([binary, "version", "--template", "{{.Version}}"], capture_output=True, text=True)
    return result.stdout.strip()


def _helm_env() -> dict[str, str]:
    return {**os.environ, "HELM_CACHE_HOME": "/tmp/dlpipe-helm/cache", "HELM_CONFIG_HOME": "/tmp/dlpipe-helm/config"}


def run_helm(binary: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([binary, *args], capture_output=True, text=True, env=_helm_env())
    if check and result.returncode != 0:
        raise AssertionError(f"{Path(binary).name} {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
    return result


@functools.cache
def build_dependencies(chart: Path) -> None:
    """Vendor the library chart into ``charts/`` (helm needs it to lint or render)."""
    binary = helm_binary(3) or helm_binary(4)
    assert binary, "no helm binary: run scripts/setup.sh"
    run_helm(binary, "dependency", "build", "--skip-refresh", str(chart))


def template(binary: str, case: ValuesCase, *extra: str, release: str = "rel") -> list[dict[str, Any]]:
    build_dependencies(case.chart)
    out = render(binary, case, *extra, release=release, env=_helm_env())
    return [doc for doc in yaml.safe_load_all(out) if doc]


def template_error(binary: str, chart: Path, *sets: str) -> str:
    """The error helm prints for ``--set`` values that must be refused."""
    build_dependencies(chart)
    args = ["template", "rel", str(chart)]
    for item in sets:
        args += ["--set", item]
    result = run_helm(binary, *args, check=False)
    assert result.returncode != 0, f"helm accepted {sets}"
    return result.stderr
