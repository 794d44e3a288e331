"""The charts for the tests: found and linted by ``tools`` (as scripts/charts.sh does), rendered
with helm 3 and helm 4 from .tools/bin, in caches of their own."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from dlpipe import atomic
from tools import charts as tools_charts
from tools.chart_lint import kube_versions
from tools.charts import CHARTS, REPO, ValuesCase, chart_dirs, render, required_values, values_cases

__all__ = ["CHARTS", "REPO", "ValuesCase", "chart_dirs", "kube_versions", "required_values", "values_cases"]

TOOLS = REPO / ".tools" / "bin"
HELM_MAJORS = (3, 4)


def local_stage_charts(chart: Path) -> list[Path]:
    """The application charts a chart carries as dependencies: the pipeline chart's stages, none for the others."""
    return [dep for dep in tools_charts.local_dependencies(chart) if dep in chart_dirs()]


def stage_aliases(chart: Path) -> list[str]:
    """The keys the pipeline chart's stages go by (their aliases), in its resources' name labels too."""
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    return [dep["alias"] for dep in meta.get("dependencies", []) if "alias" in dep]


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


BUILT = "TESTS_CHART_DEPENDENCIES_BUILT"  # set by build_all_dependencies, seen by the xdist workers


def build_all_dependencies() -> None:
    """Every chart's ``charts/``, once, before any test runs (tests/conftest.py). Tests run in parallel
    processes, and ``helm dependency update`` rewrites ``charts/*.tgz`` that a render beside it reads."""
    binary = helm_binary(3) or helm_binary(4)
    if binary is None:
        return  # the tests that need helm say so, one by one
    tools_charts.build_dependencies(binary, *chart_dirs(kind=None), env=_helm_env())
    os.environ[BUILT] = "1"


@functools.cache
def build_dependencies(chart: Path) -> None:
    """Vendor the library chart (and, into the pipeline chart, the stage charts) into ``charts/``,
    unless the session built this checkout's already."""
    if os.environ.get(BUILT) and chart.parent == CHARTS:
        return
    binary = helm_binary(3) or helm_binary(4)
    assert binary, "no helm binary: run scripts/setup.sh"
    tools_charts.build_dependencies(binary, chart, env=_helm_env())


_rendered: dict[tuple[Any, ...], str] = {}


def template_text(binary: str, case: ValuesCase, *extra: str, release: str = "rel") -> str:
    """``helm template``'s output, once per session for the same inputs (one render in five is asked again)."""
    files = [Path(arg) for arg in (str(case.values or ""), *extra) if arg and Path(arg).is_file()]
    key = (binary, case, extra, release, tuple(f.read_text() for f in files))
    if key not in _rendered:
        build_dependencies(case.chart)
        _rendered[key] = render(binary, case, *extra, release=release, env=_helm_env())
    return _rendered[key]


def template(binary: str, case: ValuesCase, *extra: str, release: str = "rel") -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(template_text(binary, case, *extra, release=release)) if doc]


def template_error(binary: str, chart: Path, *sets: str) -> str:
    """The error helm prints for ``--set`` values that must be refused."""
    build_dependencies(chart)
    args = ["template", "rel", str(chart)]
    for item in sets:
        args += ["--set", item]
    result = run_helm(binary, *args, check=False)
    assert result.returncode != 0, f"helm accepted {sets}"
    return result.stderr


def values_file(values: dict[str, Any]) -> Path:
    """``values`` as a YAML file helm can read (``--values``): lists and maps that ``--set`` mangles."""
    import hashlib
    import tempfile

    text = yaml.safe_dump(values, sort_keys=True)
    folder = Path(tempfile.gettempdir()) / "dlpipe-chart-values"
    folder.mkdir(exist_ok=True)
    path = folder / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.yaml"
    if not path.exists():  # whole or not at all: another test process may read it at once
        atomic.write_text(path, text)
    return path


def template_values(binary: str, chart: Path, values: dict[str, Any], release: str = "rel") -> str:
    """``helm template`` of ``chart`` with ``values``: the manifests as text; fails as helm does."""
    build_dependencies(chart)
    result = run_helm(
        binary, "template", release, str(chart), "--namespace", "ml", "--values", str(values_file(values))
    )
    return result.stdout


def refusal(binary: str, chart: Path, values: dict[str, Any]) -> str:
    """The error helm prints for ``values`` that must be refused."""
    build_dependencies(chart)
    args = ["template", "rel", str(chart), "--namespace", "ml", "--values", str(values_file(values))]
    result = run_helm(binary, *args, check=False)
    assert result.returncode != 0, f"{Path(binary).name} accepted {values}"
    return result.stderr


def field_path(field: str) -> list[str | int]:
    """``tolerations[0].key`` -> ``["tolerations", 0, "key"]``; a key with dots in backquotes: ``a.`b.c```."""
    path: list[str | int] = []
    for part in re.findall(r"`[^`]+`|\[\d+\]|[^.\[\]`]+", field):
        path.append(int(part[1:-1]) if part.startswith("[") else part.strip("`"))
    return path


def _spellings(path: list[str | int]) -> set[str]:
    """How helm 3 (``a.0.b``), helm 4 (``/a/0/b``) and the charts' own checks (``a[0].b``) write a path."""
    dotted = ".".join(str(p) for p in path)
    pointer = "/" + "/".join(str(p) for p in path)
    ours = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return {dotted, f"'{pointer}'", ours}


def names_field(message: str, field: str) -> bool:
    """Does helm's error name ``field``: the path to it, or for an unknown key its parent and the key?"""
    path = field_path(field)
    if any(s in message for s in _spellings(path)):
        return True
    parent, key = path[:-1], str(path[-1])
    where = _spellings(parent) if parent else {"(root)", "at ''"}
    return any(s in message for s in where) and re.search(rf"\b{re.escape(key)}\b", message) is not None
