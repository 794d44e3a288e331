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
