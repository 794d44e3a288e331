"""dlpipe-ingest on a real cluster: the Job publishes digits, helm test verifies it,
and an unchanged upgrade leaves the Job alone."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.cluster.conftest import Helm
from tests.tooling import charts

pytestmark = pytest.mark.cluster
STORAGE_VALUES = os.environ.get("DLPIPE_TEST_STORAGE_VALUES", str(charts.CHARTS / "dlpipe-storage/ci/kind-values.yaml"))


def test_ingest_digits_and_verify(helm_in_namespace: Helm) -> None:
    helm = helm_in_namespace
    helm.install("data", charts.CHARTS / "dlpipe-storage", "--values", STORAGE_VALUES)
    sets = ["--set", "sharedVolume.claimName=data-dlpipe-storage", "--set", "config.ingest.source=sample:digits",
            "--set", "config.ingest.dataset=digits"]  # fmt: skip
    helm.install("ingest", charts.CHARTS / "dlpipe-ingest", *sets)
    env = {**os.environ, "KUBECONFIG": helm.kubeconfig}
    jobs = subprocess.run(
        ["kubectl", "get", "jobs", "-n", helm.namespace, "-o", "name"], capture_output=True, text=True, env=env
    ).stdout.split()
    assert len(jobs) == 1
    subprocess.run(
        ["kubectl", "wait", "--for=condition=complete", jobs[0], "-n", helm.namespace, "--timeout=600s"],
        check=True, env=env, capture_output=True,
    )  # fmt: skip
    helm("test", "ingest", "--timeout", "10m")
    helm("upgrade", "ingest", str(charts.CHARTS / "dlpipe-ingest"), *sets)
    again = subprocess.run(
        ["kubectl", "get", "jobs", "-n", helm.namespace, "-o", "name"], capture_output=True, text=True, env=env
    ).stdout.split()
    assert again == jobs, "an unchanged upgrade must not start another Job"
