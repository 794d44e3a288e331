"""What dlpipe-common's helpers promise holds in every chart that includes them: each helper is
documented; podLabels / podAnnotations reach every pod template a chart renders; the serving
chart's pods, which only read models/, mount just that, read-only, below the same sub-directory."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from dlpipe.layout import DEFAULT_POD_ROOT, Layout
from tests.tooling import charts, pod_security

COMMON = charts.CHARTS / "dlpipe-common"


def test_every_helper_is_documented() -> None:
    defined = re.findall(r'define "([^"]+)"', "".join(p.read_text() for p in (COMMON / "templates").glob("*.tpl")))
    readme = (COMMON / "README.md").read_text()
    assert defined and not [name for name in defined if f"`{name}`" not in readme]


def _pod_templates(documents: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(kind/name, pod template)`` of every workload: Deployments, Jobs, CronJobs and TFJobs."""
    for doc in documents:
        name, spec = f"{doc['kind']}/{doc['metadata']['name']}", doc.get("spec", {})
        if "template" in spec:
            yield name, spec["template"]
        elif "jobTemplate" in spec:
            yield name, spec["jobTemplate"]["spec"]["template"]
        for replica in spec.get("tfReplicaSpecs", {}).values():
            yield name, replica["template"]


@pytest.mark.parametrize(
    ("chart", "values", "sets", "workloads"),
    [
        ("dlpipe-ingest", "ci/kind-values.yaml", [], 1),
        ("dlpipe-train", "ci/single-values.yaml", ["tensorboard.enabled=true"], 2),
        ("dlpipe-train", "examples/tfjob-values.yaml", [], 1),
        ("dlpipe-evaluate", "ci/single-values.yaml", ["continuous.enabled=true"], 2),
        ("dlpipe-serving", "ci/pinned-canary-values.yaml", ["demo.enabled=true"], 3),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_pod_labels_and_annotations_reach_every_pod(
    helm: str, chart: str, values: str, sets: list[str], workloads: int
) -> None:
    case = charts.ValuesCase(charts.CHARTS / chart, charts.CHARTS / chart / values)
    extra = ["podLabels.team=vision", "podAnnotations.owner=platform", *sets]
    templates = list(_pod_templates(charts.template(helm, case, *(a for s in extra for a in ("--set", s)))))
    assert len(templates) == workloads, [name for name, _ in templates]
    for name, template in templates:
        labels, annotations = template["metadata"]["labels"], template["metadata"].get("annotations", {})
        assert labels["team"] == "vision" and annotations.get("owner") == "platform", name
        assert labels["app.kubernetes.io/instance"] == "rel", f"{name}: selector labels kept"


def test_serving_pods_mount_only_the_models_read_only(helm: str) -> None:
    case = charts.ValuesCase(
        charts.CHARTS / "dlpipe-serving", charts.CHARTS / "dlpipe-serving/ci/pinned-canary-values.yaml"
    )
    documents = charts.template(helm, case, "--set", "sharedVolume.subPath=team-a", "--set", "demo.enabled=true")
    pods = dict(pod_security.pod_specs(documents))
    mounts = {
        name: [m for c in spec["containers"] for m in c.get("volumeMounts", []) if m["name"] == "data"]
        for name, spec in pods.items()
    }
    models = Layout(DEFAULT_POD_ROOT).models_dir
    expected = {"name": "data", "mountPath": str(models), "readOnly": True, "subPath": f"team-a/{models.name}"}
    assert len(mounts) == 4, list(mounts)  # stable, canary, demo, the helm test
    assert all(found == [expected] for found in mounts.values()), mounts
    claims = [v["persistentVolumeClaim"] for spec in pods.values() for v in spec["volumes"] if v["name"] == "data"]
    assert all(claim["readOnly"] is True for claim in claims) and len(claims) == 4
