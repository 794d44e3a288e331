"""Repository hygiene that CI would otherwise catch late: dependencies resolve,
code is ruff-clean, Dockerfiles pass hadolint, workflows pass actionlint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)


def test_installed_dependencies_are_consistent() -> None:
    """tensorflow, tensorflow-serving-api and the rest of the extras agree."""
    result = run(sys.executable, "-m", "pip", "check")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("args", [("check",), ("format", "--check")], ids=["lint", "format"])
def test_ruff_clean(args: tuple[str, ...]) -> None:
    result = run(str(BIN / "ruff"), *args, "src", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfiles_pass_hadolint() -> None:
    dockerfiles = sorted(str(p.relative_to(REPO)) for p in REPO.glob("images/*/Dockerfile"))
    assert dockerfiles
    result = run(str(BIN / "hadolint"), *dockerfiles)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfiles_run_as_a_numeric_non_root_user() -> None:
    for dockerfile in REPO.glob("images/*/Dockerfile"):
        users = [line.split()[1] for line in dockerfile.read_text().splitlines() if line.startswith("USER ")]
        assert users and users[-1].split(":")[0].isdigit() and users[-1] != "0", dockerfile


def test_workflows_pass_actionlint() -> None:
    workflows = sorted(str(p.relative_to(REPO)) for p in REPO.glob(".github/workflows/*.yaml"))
    assert workflows
    result = run(str(BIN / "actionlint"), *workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readme_test_command() -> None:
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()
    assert "scripts/test.sh" in (REPO / "README.md").read_text()


def test_image_versions_match_the_package() -> None:
    import tomllib

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for dockerfile in REPO.glob("images/*/Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("ARG DLPIPE_VERSION="):
                assert line.split("=", 1)[1] == version, dockerfile
    for chart in REPO.glob("charts/*/Chart.yaml"):
        assert f'appVersion: "{version}"' in chart.read_text(), chart
