"""Finding the charts, their value files and the helm binaries; rendering them."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate.utils as kv_utils
import yaml

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "charts"
TOOLS = REPO / ".tools" / "bin"
HELM_MAJORS = (3, 4)


@dataclass(frozen=True)
class ValuesCase:
    chart: Path
    values: Path | None  # None: the chart's defaults

    @property
    def id(self) -> str:
        return f"{self.chart.name}:{self.values.relative_to(self.chart) if self.values else 'defaults'}"


def chart_dirs(kind: str | None = "application") -> list[Path]:
    found = []
    for chart_yaml in sorted(CHARTS.glob("*/Chart.yaml")):
        meta = yaml.safe_load(chart_yaml.read_text())
        if kind is None or meta.get("type", "application") == kind:
            found.append(chart_yaml.parent)
    return found


def required_values(chart: Path) -> list[str]:
    """Values a chart cannot default (Chart.yaml annotation ``dlpipe.dev/required-values``)."""
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    listed = meta.get("annotations", {}).get("dlpipe.dev/required-values", "")
    return [name for name in listed.split(",") if name]


def values_cases() -> list[ValuesCase]:
    """Every application chart with each ci/*-values.yaml and examples/*-values.yaml, and its
    defaults alone unless it has required values."""
    cases = []
    for chart in chart_dirs():
        if not required_values(chart):
            cases.append(ValuesCase(chart, None))
        for pattern in ("ci/*-values.yaml", "examples/*-values.yaml"):
            cases.extend(ValuesCase(chart, path) for path in sorted(chart.glob(pattern)))
    return cases


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


def run_helm(binary: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HELM_CACHE_HOME": "/tmp/dlpipe-helm/cache", "HELM_CONFIG_HOME": "/tmp/dlpipe-helm/config"}
    result = subprocess.run([binary, *args], capture_output=True, text=True, env=env)
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
    args = ["template", release, str(case.chart), "--namespace", "ml"]
    if case.values:
        args += ["--values", str(case.values)]
    out = run_helm(binary, *args, *extra).stdout
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


# -- Kubernetes versions ----------------------------------------------------
_CONSTRAINT = re.compile(r"(>=|<=|>|<|=|\^|~)?\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-[0-9A-Za-z.-]+)?")


def _satisfies(version: tuple[int, int], constraint: str) -> bool:
    """Does Kubernetes ``major.minor`` meet a Chart.yaml kubeVersion (AND of comparisons; || of groups)?"""
    for group in constraint.split("||"):
        ok = True
        for op, major, minor, _patch in _CONSTRAINT.findall(group):
            bound = (int(major), int(minor or 0))
            op = op or "="
            ok &= {
                ">=": version >= bound,
                ">": version > bound,
                "<=": version <= bound,
                "<": version < bound,
                "=": version == bound,
                "^": version[0] == bound[0] and version >= bound,
                "~": version == bound,
            }[op]
        if ok:
            return True
    return False


def validator_versions() -> list[str]:
    """Kubernetes versions kubernetes-validate ships schemas for, e.g. ``1.29.0``."""
    return sorted(
        {v for v in kv_utils.all_versions() if v.startswith("1.")},
        key=lambda v: tuple(int(x) for x in v.split(".")),
    )


def kube_versions(chart: Path) -> list[str]:
    constraint = yaml.safe_load((chart / "Chart.yaml").read_text()).get("kubeVersion", ">=0")
    return [v for v in validator_versions() if _satisfies(tuple(int(x) for x in v.split(".")[:2]), constraint)]
