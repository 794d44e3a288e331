"""Tests against a real cluster (marked ``cluster``), with pytest-helm-charts' fixtures: they
run when a kubeconfig is given (``--kubeconfig PATH``, else $KUBECONFIG) and are skipped with that
reason otherwise. They install the charts from this checkout, so the cluster must have the stage
images (the kind workflow loads them) and a ReadWriteMany storage class (``--storage-values``
names the dlpipe-storage values that claim from it; kind's by default).

Tests that need published models use the namespace where chart-testing ran the stage charts'
ci/ values on one shared claim (``--pipeline-namespace``; .github/workflows/charts.yaml uses
dlpipe-ci): a dataset digits, versions 1 and 2 of model digits. They are skipped without it.

Each test says in one line what it proved (``proved(...)``); the lines close the run's report.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pykube
import pytest

from tests.tooling import charts

STORAGE_VALUES = charts.CHARTS / "dlpipe-storage" / "ci" / "kind-values.yaml"


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("dlpipe cluster tests")
    # pytest-helm-charts, when installed (a plugin, loaded before this file), registers --kubeconfig
    # itself, with the same destination: a second registration would be an error.
    if not pluginmanager.hasplugin("helm-charts"):
        group.addoption("--kubeconfig", dest="kubeconfig", help="kubeconfig of the test cluster (default: $KUBECONFIG)")
    group.addoption("--pipeline-namespace", dest="pipeline_namespace",
                    help="where ct ran the stage charts' ci/ values (claim data-dlpipe-storage)")  # fmt: skip
    group.addoption("--storage-values", dest="storage_values", default=str(STORAGE_VALUES),
                    help="dlpipe-storage values for the tests' own volumes (default: ci/kind-values.yaml)")  # fmt: skip


def kubeconfig(config: pytest.Config) -> str | None:
    """``--kubeconfig``, else the first file of $KUBECONFIG, else None."""
    given = config.getoption("kubeconfig", default=None)
    return given or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if kubeconfig(config):
        return
    skip = pytest.mark.skip(reason="needs a Kubernetes cluster: pass --kubeconfig PATH (or set KUBECONFIG)")
    for item in items:
        if item.get_closest_marker("cluster"):  # not `in item.keywords`: this folder is named cluster too
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = [
        f"{report.nodeid.rsplit('::', 1)[-1]}: {text}"
        for report in terminalreporter.stats.get("passed", [])
        for key, text in report.user_properties
        if key == "proved"
    ]
    if lines:
        terminalreporter.section("what the cluster tests proved")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def proved(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Call with one line saying what the test proved; shown at the end of the run if it passed."""
    return lambda text: request.node.user_properties.append(("proved", text))


@pytest.fixture(scope="session")
def kube_config(pytestconfig: pytest.Config) -> str:
    """Overrides pytest-helm-charts' fixture of this name, so that its kube_cluster and namespace
    fixtures use the kubeconfig these tests resolve."""
    path = kubeconfig(pytestconfig)
    if not path:
        pytest.skip("needs a Kubernetes cluster: pass --kubeconfig PATH (or set KUBECONFIG)")
    return path


@pytest.fixture(scope="session")
def storage_values(pytestconfig: pytest.Config) -> Path:
    return Path(pytestconfig.getoption("storage_values", default=str(STORAGE_VALUES)))


class Helm:
    """helm against the test cluster, in one namespace; the same binary the workflow's ct uses."""

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        binary = charts.helm_binary(4) or charts.helm_binary(3)
        assert binary, "no helm: install Helm 3 or 4 (scripts/setup.sh puts both in .tools/bin)"
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
        self("install", release, str(chart), "--wait", "--timeout", "10m", *args)

    def upgrade(self, release: str, chart: Path, *args: str) -> None:
        self("upgrade", release, str(chart), "--wait", "--timeout", "10m", *args)


@pytest.fixture
def helm_in_namespace(kube_config: str, random_namespace_function_scope: pykube.Namespace) -> Helm:
    """helm in a namespace of the test's own (pytest-helm-charts creates it and deletes it after)."""
    return Helm(kube_config, random_namespace_function_scope.name)


@pytest.fixture
def pipeline(kube_config: str, pytestconfig: pytest.Config) -> Helm:
    """helm in the namespace where chart-testing ran the stage charts' ci/ values."""
    namespace = pytestconfig.getoption("pipeline_namespace", default=None)
    if not namespace:
        pytest.skip("needs --pipeline-namespace: where ct install ran the stage charts (the workflow's dlpipe-ci)")
    return Helm(kube_config, namespace)


def _condition(job: pykube.Job, kind: str) -> bool:
    return any(c["type"] == kind and c["status"] == "True" for c in job.obj.get("status", {}).get("conditions", []))


def job_done(job: pykube.Job) -> bool:
    """Complete, wherever that condition is in the list: Kubernetes 1.31+ puts SuccessCriteriaMet
    first, which pytest-helm-charts' own check (the first condition only) takes for not done."""
    return _condition(job, "Complete")


def job_failed(job: pykube.Job) -> bool:
    return _condition(job, "Failed")
