"""Every pod every chart renders, in every values case, meets the restricted profile.

The one allowed exception is dlpipe-storage's opt-in prepare Job, which needs
root with CAP_CHOWN to hand an EFS/NFS export to the stages' uid."""

from __future__ import annotations

import pytest

from tests.tooling import charts, pod_security

CASES = charts.values_cases()
PRIVILEGED_BY_DESIGN = {"prepare"}  # app.kubernetes.io/component values


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_pods_meet_restricted_profile(helm: str, case: charts.ValuesCase) -> None:
    documents = charts.template(helm, case)
    problems = []
    checked = 0
    for name, spec in pod_security.pod_specs(documents):
        doc = next(d for d in documents if f"{d['kind']}/{d['metadata']['name']}" == name)
        if doc["metadata"]["labels"].get("app.kubernetes.io/component") in PRIVILEGED_BY_DESIGN:
            continue
        checked += 1
        problems += [f"{name}: {v}" for v in pod_security.violations(spec)]
    assert checked, "no pod rendered: every chart has at least a helm test pod"
    assert not problems, "\n".join(problems)


def test_checker_catches_a_root_pod() -> None:
    pod = {
        "containers": [{"name": "c", "securityContext": {"runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}}}],
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
    }
    found = "\n".join(pod_security.violations(pod))
    for expected in ("runs as uid 0", "SYS_ADMIN", "hostPath", "allowPrivilegeEscalation", "root file system", "token"):
        assert expected in found


def test_labels_and_release_scoped_names(helm: str) -> None:
    """Two releases in one namespace never share a name; selector labels are stable."""
    for chart in charts.chart_dirs():
        case = charts.representative_case(chart)
        first = charts.template(helm, case, release="one")
        second = charts.template(helm, case, release="two")
        names_one = {(d["kind"], d["metadata"]["name"]) for d in first}
        names_two = {(d["kind"], d["metadata"]["name"]) for d in second}
        assert not names_one & names_two, f"{chart.name}: releases collide on {names_one & names_two}"
        names = {chart.name} | set(charts.stage_aliases(chart))  # the pipeline chart's stages: their keys
        for doc in first:
            labels = doc["metadata"]["labels"]
            assert labels["app.kubernetes.io/instance"] == "one"
            assert labels["app.kubernetes.io/name"] in names
            assert labels["app.kubernetes.io/managed-by"] == "Helm"
            assert labels["helm.sh/chart"].startswith(labels["app.kubernetes.io/name"] + "-")
