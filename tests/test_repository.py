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
    result = run(str(BIN / "ruff"), *args, "src", "tests", "bench", "tools")
    assert result.returncode == 0, result.stdout + result.stderr


DOCKERFILE = REPO / "images" / "Dockerfile"  # the one recipe, a target per stage


def test_dockerfile_passes_hadolint() -> None:
    result = run(str(BIN / "hadolint"), str(DOCKERFILE.relative_to(REPO)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_images_run_as_a_numeric_non_root_user() -> None:
    users = [line.split()[1] for line in DOCKERFILE.read_text().splitlines() if line.startswith("USER ")]
    assert users and all(user.split(":")[0].isdigit() and user.split(":")[0] != "0" for user in users)


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
    assert "ARG DLPIPE_VERSION=" not in DOCKERFILE.read_text(), "no default: scripts pass pyproject's version"
    for chart in REPO.glob("charts/*/Chart.yaml"):
        assert f'appVersion: "{version}"' in chart.read_text(), chart
