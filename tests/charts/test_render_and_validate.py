"""Every chart x every values file x helm 3 and 4: lint, render, and validate the
manifests against the schema of every Kubernetes minor the chart claims."""

from __future__ import annotations

import functools

import pytest

from tests.tooling import charts
from tools.chart_lint import schema_problems

CASES = charts.values_cases()


@functools.cache
def _rendered(binary: str, case: charts.ValuesCase) -> tuple:
    return tuple(charts.template(binary, case))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_helm_lint_strict(helm: str, case: charts.ValuesCase) -> None:
    charts.build_dependencies(case.chart)
    args = ["lint", "--strict", str(case.chart)]
    if case.values:
        args += ["--values", str(case.values)]
    charts.run_helm(helm, *args)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_renders_for_oldest_and_newest_claimed_kubernetes(helm: str, case: charts.ValuesCase) -> None:
    versions = charts.kube_versions(case.chart)
    assert versions, f"{case.chart.name}: kubeVersion admits no Kubernetes version kubernetes-validate knows"
    for version in (versions[0], versions[-1]):
        assert charts.template(helm, case, "--kube-version", version), f"nothing rendered for {version}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_manifests_validate_strictly_on_every_claimed_minor(helm: str, case: charts.ValuesCase) -> None:
    """Custom resources (TFJob, ServiceMonitor) are skipped here; test_security.py checks their pods."""
    documents = list(_rendered(helm, case))
    assert documents
    problems = [p for version in charts.kube_versions(case.chart) for p in schema_problems(documents, version)]
    assert not problems, "\n".join(problems[:10])


def test_claimed_range_covers_supported_minors() -> None:
    for chart in charts.chart_dirs():
        minors = {v.rsplit(".", 1)[0] for v in charts.kube_versions(chart)}
        assert {f"1.{m}" for m in range(29, 36)} <= minors, chart.name


@pytest.mark.parametrize("chart", [c for c in charts.chart_dirs() if charts.required_values(c)], ids=lambda c: c.name)
def test_missing_required_values_fail_naming_them(helm: str, chart) -> None:
    message = charts.template_error(helm, chart)
    assert any(name in message for name in charts.required_values(chart)), message
    assert "is required" in message
