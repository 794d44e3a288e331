"""``dlpipe charts package``: a chart repository folder (the .tgz files and index.yaml).

What Helm 2's ``helm serve`` used to give: serve the folder with any static web
server (``helm repo add dlpipe https://…``) or push the .tgz files to an OCI
registry. Every chart is packaged with ``version`` and ``appVersion`` = this
package's version, so the default image tags match the images built from the
same source.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from dlpipe import __version__
from dlpipe.errors import EXIT_OK, DlpipeError


def _helm() -> str:
    helm = shutil.which("helm") or shutil.which("helm4") or shutil.which("helm3")
    if helm is None:
        raise DlpipeError("no helm on PATH", "install Helm 3 or 4 (scripts/setup.sh puts both in .tools/bin)")
    return helm


def _run(*cmd: str) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise DlpipeError(f"{' '.join(cmd[:3])} failed: {(result.stderr or result.stdout).strip().splitlines()[-1]}")
    return result.stdout


def package(charts: Path, out: Path, app_version: str = __version__) -> list[Path]:
    """Package every chart under ``charts`` into ``out`` and write ``out/index.yaml``."""
    helm = _helm()
    found = sorted(p.parent for p in charts.glob("*/Chart.yaml"))
    if not found:
        raise DlpipeError(f"no charts under {charts}", "pass --charts, the folder holding dlpipe-*/Chart.yaml")
    out.mkdir(parents=True, exist_ok=True)
    packaged = []
    with tempfile.TemporaryDirectory() as scratch:
        for chart in found:
            # Build in a copy: dependency build writes into the chart's charts/ folder.
            copy = Path(scratch) / chart.name
            shutil.copytree(chart, copy, ignore=shutil.ignore_patterns("charts", "*.tgz"))
            dependencies = yaml.safe_load((copy / "Chart.yaml").read_text()).get("dependencies", [])
            for dep in dependencies:
                if dep.get("repository", "").startswith("file://"):
                    source = (chart / dep["repository"].removeprefix("file://")).resolve()
                    shutil.copytree(source, Path(scratch) / source.name, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("charts", "*.tgz"))  # fmt: skip
            if dependencies:
                _run(helm, "dependency", "build", "--skip-refresh", str(copy))
            output = _run(helm, "package", str(copy), "--version", app_version, "--app-version", app_version,
                          "--destination", str(out))  # fmt: skip
            packaged.append(Path(output.strip().rsplit(": ", 1)[-1]))
    _run(helm, "repo", "index", str(out))
    return packaged


def register(sub: Any, add_common: Callable[[argparse.ArgumentParser], None], config_flag: Callable[..., None]) -> None:
    parser = sub.add_parser("charts", help="package the charts into a chart repository, or lint them like ct lint")
    parser.add_argument("action", choices=["package", "lint"])
    parser.add_argument("--charts", type=Path, default=Path("charts"), help="folder of the charts (default: ./charts)")
    parser.add_argument(
        "--out", type=Path, default=Path("dist/charts"), help="repository folder (default: %(default)s)"
    )
    parser.add_argument("--etc", type=Path, default=Path("etc"), help="chart_schema.yaml and lintconf.yaml (lint)")
    parser.set_defaults(handler=run, needs_config=False)


def run(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    if args.action == "lint":
        try:
            from dlpipe.chartlint import lint
        except ImportError as exc:
            raise DlpipeError(f"dlpipe charts lint needs {exc.name}", "pip install 'dlpipe[charts]'") from None
        problems = lint(args.charts, args.etc, _helm())
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s)" if problems else "all charts pass")
        return 1 if problems else EXIT_OK
    for path in package(args.charts, args.out):
        print(f"packaged {path}")
    print(f"index: {args.out / 'index.yaml'}")
    return EXIT_OK
