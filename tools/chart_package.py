"""A chart repository folder: every chart packaged as a .tgz, and the index.yaml helm reads.

Serve the folder with any static web server (``helm repo add dlpipe https://…``) or push the
.tgz files to an OCI registry. Every chart is packaged with ``version`` and ``appVersion`` =
the package version in pyproject.toml, so the default image tags match the images
scripts/build-images.sh builds from the same source. This lives in the repository, not in the
wheel, because it packages the repository's charts: an installed dlpipe has none to package.

    python -m tools.chart_package [--charts DIR] [--out DIR]   # or: scripts/charts.sh package
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from tools.charts import (
    ToolError,
    arguments,
    build_dependencies,
    build_order,
    chart_dirs,
    find_helm,
    helm,
    package_version,
)

_NOT_SOURCE = shutil.ignore_patterns("charts", "*.tgz")  # what `helm dependency build` leaves in a chart


def _helm(binary: str, *args: str) -> str:
    result = helm(binary, *args)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()[-1]
        raise ToolError(f"helm {' '.join(args[:2])} failed: {message}")
    return result.stdout


def package(charts: Path, out: Path, version: str) -> list[Path]:
    """Package every chart under ``charts`` into ``out`` and write ``out/index.yaml``."""
    binary = find_helm()
    found = chart_dirs(charts, kind=None)
    if not found:
        raise ToolError(f"no charts under {charts}: pass --charts, the folder holding dlpipe-*/Chart.yaml")
    out.mkdir(parents=True, exist_ok=True)
    packaged = []
    with tempfile.TemporaryDirectory() as scratch:
        # Build in copies, each beside the copies of its file:// dependencies: `helm dependency build`
        # writes into a chart's charts/ folder, which must not change the checkout. Dependencies are
        # built first: the pipeline chart packs the stage charts with their own charts/ folders.
        copies = {}
        for chart in build_order(found):
            copies[chart] = Path(scratch) / chart.name
            shutil.copytree(chart, copies[chart], ignore=_NOT_SOURCE)
        build_dependencies(binary, *copies.values())
        for chart in found:
            output = _helm(binary, "package", str(copies[chart.resolve()]), "--version", version,
                           "--app-version", version, "--destination", str(out))  # fmt: skip
            packaged.append(Path(output.strip().rsplit(": ", 1)[-1]))
    _helm(binary, "repo", "index", str(out))
    return packaged


def main(argv: list[str] | None = None) -> int:
    parser = arguments("scripts/charts.sh package", __doc__)
    parser.add_argument(
        "--out", type=Path, default=Path("dist/charts"), help="repository folder (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        packaged = package(args.charts, args.out, package_version())
    except ToolError as exc:
        print(f"chart package: {exc}", file=sys.stderr)
        return 2
    for path in packaged:
        print(f"packaged {path}")
    print(f"index: {args.out / 'index.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
