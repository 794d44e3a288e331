from __future__ import annotations

import pytest

from tests.tooling import charts

pytest_plugins = ["tests.tooling.s3_server"]


@pytest.fixture(params=charts.HELM_MAJORS, ids=lambda m: f"helm{m}")
def helm(request: pytest.FixtureRequest) -> str:
    """Each test that takes ``helm`` runs once with helm 3 and once with helm 4."""
    binary = charts.helm_binary(request.param)
    if binary is None:
        pytest.fail(f"helm {request.param} is missing: run scripts/setup.sh (it installs helm 3 and 4 into .tools/bin)")
    return binary


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the one process that starts the others (or the only one)
        charts.build_all_dependencies()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """scripts/test.sh runs the tests in processes of their own (``--dist loadgroup``), a file to a
    process, as ``--dist loadfile`` would: a module's fixtures are made once. A file that holds fixed
    ports (a chart's pods on their rendered ports) names its group ``fixed-ports``, to take turns."""
    for item in items:
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
