"""dlpipe-storage: each backend renders what Kubernetes needs; bad values fail
at `helm template`/`helm install` with a message naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from dlpipe.layout import DEFAULT_POD_ROOT
from tests.tooling import charts

CHART = charts.CHARTS / "dlpipe-storage"


def _render(helm: str, *sets: str) -> dict[str, dict[str, Any]]:
    extra = [arg for item in sets for arg in ("--set", item)]
    docs = charts.template(helm, charts.ValuesCase(CHART, None), *extra)
    return {doc["kind"]: doc for doc in docs if "helm.sh/hook" not in doc["metadata"].get("annotations", {})}


def test_dynamic_claim_on_a_storage_class_is_kept(helm: str) -> None:
    out = _render(helm, "persistence.storageClassName=efs-sc", "persistence.size=20Gi")
    assert set(out) == {"PersistentVolumeClaim", "NetworkPolicy"}
    pvc = out["PersistentVolumeClaim"]
    assert pvc["spec"]["storageClassName"] == "efs-sc"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_default_storage_class_is_left_to_the_cluster(helm: str) -> None:
    pvc = _render(helm)["PersistentVolumeClaim"]
    assert "storageClassName" not in pvc["spec"]  # "" would disable dynamic provisioning


def test_keep_false_lets_uninstall_delete_the_claim(helm: str) -> None:
    pvc = _render(helm, "persistence.keep=false")["PersistentVolumeClaim"]
    assert "helm.sh/resource-policy" not in pvc["metadata"].get("annotations", {})


def test_static_nfs_volume_binds_only_to_its_claim(helm: str) -> None:
    out = _render(helm, "nfs.server=10.0.0.5", "nfs.path=/exports/ml")
    pv, pvc = out["PersistentVolume"], out["PersistentVolumeClaim"]
    assert pv["spec"]["nfs"] == {"server": "10.0.0.5", "path": "/exports/ml"}
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pv["spec"]["claimRef"] == {"namespace": "ml", "name": pvc["metadata"]["name"]}
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
    assert pvc["spec"]["storageClassName"] == ""
    assert "ml" in pv["metadata"]["name"], "cluster-scoped PV names carry the namespace"


def test_static_efs_volume_with_access_point(helm: str) -> None:
    out = _render(helm, "efs.fileSystemId=fs-0123abcd", "efs.accessPointId=fsap-0123abcd4567")
    csi = out["PersistentVolume"]["spec"]["csi"]
    assert csi == {"driver": "efs.csi.aws.com", "volumeHandle": "fs-0123abcd::fsap-0123abcd4567"}
    assert _render(helm, "efs.fileSystemId=fs-0123abcd")["PersistentVolume"]["spec"]["csi"]["volumeHandle"] == (
        "fs-0123abcd"
    )


def test_existing_claim_creates_nothing_but_is_mounted(helm: str) -> None:
    docs = charts.template(helm, charts.ValuesCase(CHART, None), "--set", "existingClaim=team-data")
    kinds = [d["kind"] for d in docs]
    assert "PersistentVolumeClaim" not in kinds and "PersistentVolume" not in kinds
    test_pod = next(d for d in docs if d["kind"] == "Pod")
    claims = [
        v["persistentVolumeClaim"]["claimName"] for v in test_pod["spec"]["volumes"] if "persistentVolumeClaim" in v
    ]
    assert claims == ["team-data"]


def test_helm_test_writes_and_reads_back_on_the_volume(helm: str) -> None:
    docs = charts.template(helm, charts.ValuesCase(CHART, None))
    tests = [d for d in docs if d["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    assert len(tests) == 1
    container = tests[0]["spec"]["containers"][0]
    assert container["args"][:2] == ["volume", "check"]
    assert {"name": "data", "mountPath": str(DEFAULT_POD_ROOT)} in container["volumeMounts"]


def test_prepare_job_is_opt_in_and_chowns_to_the_stage_user(helm: str) -> None:
    assert not [d for d in charts.template(helm, charts.ValuesCase(CHART, None)) if d["kind"] == "Job"]
    docs = charts.template(
        helm, charts.ValuesCase(CHART, None), "--set", "prepare.enabled=true", "--set", "prepare.owner.uid=1234"
    )
    job = next(d for d in docs if d["kind"] == "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert "--owner=1234:1000" in container["args"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN", "FOWNER"]}


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["persistnce.size=1Gi"], "persistnce"),
        (["nfs.server=nas", "nfs.path=/x", "efs.fileSystemId=fs-12345678"], "nfs.server, efs.fileSystemId"),
        (["nfs.path=/exports"], "nfs.server is empty"),
        (["persistence.size=lots"], "size"),
        (["efs.fileSystemId=vol-123"], "fileSystemId"),
        (["efs.accessPointId=fsap-12345678"], "efs.fileSystemId is empty"),
        (["nfs.server=nas"], "nfs.path is required"),
        (["prepare.owner.uid=0"], "uid"),
        (["image.pullPolicy=Sometimes"], "pullPolicy"),
        (["persistence.accessModes={ReadWriteAlways}"], "accessModes"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_bad_values_fail_naming_the_field(helm: str, sets: list[str], expected: str) -> None:
    message = charts.template_error(helm, CHART, *sets)
    assert expected in message, message
