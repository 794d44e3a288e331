"""Tests against a real cluster (marked ``cluster``): they run when a kubeconfig
is given explicitly (``--kubeconfig PATH`` or DLPIPE_TEST_KUBECONFIG) and are
skipped with that reason otherwise. A KUBECONFIG that merely happens to be set
is not enough: the tests create namespaces and volumes.

The images must be reachable by the cluster: the kind workflow builds them and
loads them with ``kind load docker-image``.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tooling import charts


def _kubeconfig(config: pytest.Config) -> str | None:
    return config.getoption("kubeconfig", default=None) or os.environ.get("DLPIPE_TEST_KUBECONFIG") or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _kubeconfig(config):
        return
    skip = pytest.mark.skip(reason="needs a Kubernetes cluster: pass --kubeconfig PATH (or set DLPIPE_TEST_KUBECONFIG)")
    for item in items:
        if "cluster" in item.keywords:
            item.add_marker(skip)


class Helm:
    """helm against the test cluster, in a namespace of its own."""

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        binary = charts.helm_binary(4) or charts.helm_binary(3)
        assert binary, "no helm: run scripts/setup.sh"
        self.binary = binary

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": self.kubeconfig}
        cmd = [self.binary, *args, "--namespace", self.namespace]
        result = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stderr}{result.stdout}")
        return result

    def install(self, release: str, chart: Path, *args: str) -> None:
        charts.build_dependencies(chart)
        self("install", release, str(chart), "--wait", "--timeout", "5m", *args)


@pytest.fixture
def helm_in_namespace(pytestconfig: pytest.Config) -> Iterator[Helm]:
    kubeconfig = _kubeconfig(pytestconfig)
    assert kubeconfig
    namespace = f"dlpipe-test-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    subprocess.run(["kubectl", "create", "namespace", namespace], check=True, env=env, capture_output=True)
    yield Helm(kubeconfig, namespace)
    subprocess.run(["kubectl", "delete", "namespace", namespace, "--wait=false"], env=env, capture_output=True)
