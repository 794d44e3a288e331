"""dlpipe-storage on a real cluster: install, helm test, uninstall keeps the data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pykube
import pytest
from pytest_helm_charts.clusters import Cluster

from tests.cluster.conftest import Helm
from tests.tooling import charts

pytestmark = pytest.mark.cluster
CHART = charts.CHARTS / "dlpipe-storage"


def test_install_test_and_uninstall_keeps_the_claim(
    helm_in_namespace: Helm, kube_cluster: Cluster, storage_values: Path, proved: Callable[[str], None]
) -> None:
    helm = helm_in_namespace
    helm.install("store", CHART, "--values", str(storage_values), "--set", "persistence.keep=true")
    helm("test", "store", "--timeout", "5m")  # fails unless the test pod Succeeded
    helm("uninstall", "store", "--wait")
    claims = pykube.PersistentVolumeClaim.objects(kube_cluster.kube_client).filter(namespace=helm.namespace)
    assert "store-dlpipe-storage" in {claim.name for claim in claims}, "the claim (and the data) survive uninstall"
    proved("the volume test passed, and the claim outlived helm uninstall (persistence.keep)")
