"""dlpipe-storage on a real cluster: install, helm test, uninstall keeps the data."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cluster.conftest import Helm
from tests.tooling import charts

pytestmark = pytest.mark.cluster
CHART = charts.CHARTS / "dlpipe-storage"
# A values file that suits the cluster's storage; kind's by default.
VALUES = Path(os.environ.get("DLPIPE_TEST_STORAGE_VALUES", CHART / "ci" / "kind-values.yaml"))


def _claims(helm: Helm) -> list[str]:
    out = subprocess.run(
        ["kubectl", "get", "pvc", "--namespace", helm.namespace, "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "KUBECONFIG": helm.kubeconfig},
    ).stdout
    return [item["metadata"]["name"] for item in json.loads(out)["items"]]


def test_install_test_and_uninstall_keeps_the_claim(helm_in_namespace: Helm) -> None:
    helm = helm_in_namespace
    helm.install("store", CHART, "--values", str(VALUES), "--set", "persistence.keep=true")
    result = helm("test", "store", "--timeout", "5m")
    assert "Phase:          Succeeded" in result.stdout or "Succeeded" in result.stdout
    helm("uninstall", "store", "--wait")
    assert "store-dlpipe-storage" in _claims(helm), "the claim (and the data) must survive helm uninstall"
