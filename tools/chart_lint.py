"""What chart-testing's ``ct lint`` checks, plus strict schema validation, without ``ct``.

For every chart: yamale on Chart.yaml (``etc/chart_schema.yaml``), yamllint on Chart.yaml and
the values files (``etc/lintconf.yaml``); for every values case (see ``tools.charts``)
``helm lint --strict``, and ``helm template`` validated with ``kubernetes-validate --strict``
against every Kubernetes minor the chart's ``kubeVersion`` admits, since a field that one
minor dropped or renamed fails only there. The test suite calls the same functions.

    python -m tools.chart_lint [--charts DIR] [--etc DIR]     # or: scripts/charts.sh lint
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tools.charts import (
    ETC,
    ToolError,
    arguments,
    build_dependencies,
    chart_dirs,
    find_helm,
    helm,
    render,
    values_cases,
)

# Custom resources: kubernetes-validate knows only the core API (tests/charts/test_gateway_routes.py
# and test_train_backends.py check the routes, JobSets and TrainJobs against the vendored CRDs).
CRD_GROUPS = ("kubeflow.org/", "monitoring.coreos.com/", "gateway.networking.k8s.io/", "jobset.x-k8s.io/",
              "trainer.kubeflow.org/")  # fmt: skip


# -- Kubernetes versions ----------------------------------------------------
_CONSTRAINT = re.compile(r"(>=|<=|>|<|=|\^|~)?\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-[0-9A-Za-z.-]+)?")


def satisfies(version: tuple[int, int], constraint: str) -> bool:
    """Does Kubernetes ``major.minor`` meet a Chart.yaml kubeVersion (AND of comparisons; || of groups)?"""
    for group in constraint.split("||"):
        ok = True
        for op, major, minor, _patch in _CONSTRAINT.findall(group):
            bound = (int(major), int(minor or 0))
            ok &= {
                ">=": version >= bound,
                ">": version > bound,
                "<=": version <= bound,
                "<": version < bound,
                "=": version == bound,
                "^": version[0] == bound[0] and version >= bound,
                "~": version == bound,
            }[op or "="]
        if ok:
            return True
    return False


def validator_versions() -> list[str]:
    """Kubernetes versions kubernetes-validate ships schemas for, e.g. ``1.29.0``."""
    import kubernetes_validate.utils as kv_utils

    return sorted(
        {v for v in kv_utils.all_versions() if v.startswith("1.")}, key=lambda v: tuple(int(x) for x in v.split("."))
    )


def kube_versions(chart: Path) -> list[str]:
    constraint = yaml.safe_load((chart / "Chart.yaml").read_text()).get("kubeVersion", ">=0")
    return [v for v in validator_versions() if satisfies(tuple(int(x) for x in v.split(".")[:2]), constraint)]


# -- checks ------------------------------------------------------------------
def yaml_files(chart: Path) -> list[Path]:
    files = [chart / "Chart.yaml", chart / "values.yaml"]
    return files + sorted(chart.glob("ci/*.yaml")) + sorted(chart.glob("examples/*.yaml"))


def chart_yaml_problems(chart: Path, schema_file: Path) -> list[str]:
    import yamale

    try:
        yamale.validate(yamale.make_schema(str(schema_file)), yamale.make_data(str(chart / "Chart.yaml")))
    except yamale.YamaleError as exc:
        return [f"{chart.name}/Chart.yaml: {message}" for result in exc.results for message in result.errors]
    return []


def yamllint_problems(chart: Path, lintconf: Path) -> list[str]:
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    config = YamlLintConfig(file=str(lintconf))
    return [
        f"{path.relative_to(chart.parent)}:{problem.line}:{problem.column} {problem.desc}"
        for path in yaml_files(chart)
        for problem in linter.run(path.read_text(), config, str(path))
    ]


def schema_problems(documents: list[dict[str, Any]], version: str) -> Iterator[str]:
    import jsonschema
    import kubernetes_validate

    for doc in documents:
        if doc["apiVersion"].startswith(CRD_GROUPS):
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except jsonschema.ValidationError as exc:  # kubernetes_validate's errors derive from it
            name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            yield f"{name} is invalid for Kubernetes {version}: {exc.message} at {list(exc.absolute_path)}"


def lint(charts: Path, etc: Path, helm_binary: str) -> list[str]:
    """Every problem found, one line each; empty when all charts pass."""
    problems: list[str] = []
    found = chart_dirs(charts, kind=None)
    for chart in found:
        problems += chart_yaml_problems(chart, etc / "chart_schema.yaml")
        problems += yamllint_problems(chart, etc / "lintconf.yaml")
    try:
        build_dependencies(helm_binary, *found)  # the stage charts before the pipeline chart that packs them
    except ToolError as exc:
        problems.append(str(exc))
    for case in values_cases(charts):
        args = ["lint", "--strict", str(case.chart)] + (["--values", str(case.values)] if case.values else [])
        linted = helm(helm_binary, *args)
        if linted.returncode != 0:
            # helm lint puts the findings on stdout and only a summary on stderr.
            findings = [line.strip() for line in linted.stdout.splitlines() if "ERROR" in line or line.startswith("- ")]
            problems.append(f"{case.id}: helm lint --strict: {' | '.join(findings) or linted.stderr.strip()}")
            continue
        documents = [d for d in yaml.safe_load_all(render(helm_binary, case)) if d]
        for version in kube_versions(case.chart):
            problems += [f"{case.id}: {p}" for p in schema_problems(documents, version)]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = arguments("scripts/charts.sh lint", __doc__)
    parser.add_argument("--etc", type=Path, default=ETC, help="folder of chart_schema.yaml and lintconf.yaml")
    args = parser.parse_args(argv)
    try:
        problems = lint(args.charts, args.etc, find_helm())
    except ToolError as exc:
        print(f"chart lint: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s)" if problems else "all charts pass")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
