"""README.md's "On a cluster" commands work as written on a fresh clone: no chart's charts/
folder is built, no helm repository is configured, nothing is downloaded. Each `helm install`
is run as `helm template` (the same chart loading and value checks, without a cluster); `helm
test` needs one and is left out."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.tooling import charts


def _fresh_clone(folder: Path) -> Path:
    """The repository's tracked chart files and README, as `git clone` would give them."""
    listed = subprocess.run(
        ["git", "-C", str(charts.REPO), "ls-files", "-z", "charts", "README.md"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source, target = charts.REPO / name, folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    assert not list(folder.glob("charts/*/charts")), "a fresh clone has no built dependencies"
    return folder


def _commands() -> list[str]:
    """The shell commands of the README's "On a cluster" console blocks, one per entry."""
    section = (charts.REPO / "README.md").read_text().split("## On a cluster", 1)[1].split("\n## ", 1)[0]
    joined = "".join(re.findall(r"```console\n(.*?)```", section, re.S)).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _run(helm: str, commands: list[str], clone: Path, home: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "helm").unlink(missing_ok=True)
    (bin_dir / "helm").symlink_to(helm)
    script = "\n".join(
        re.sub(r"^helm install ", "helm template ", c) for c in commands if not c.startswith("helm test ")
    )
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        **{f"HELM_{kind}_HOME": str(home / kind.lower()) for kind in ("CACHE", "CONFIG", "DATA")},
    }
    command = ["bash", "-euo", "pipefail", "-c", script]
    return subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True)


def test_the_documented_install_works_on_a_fresh_clone(helm: str, tmp_path: Path) -> None:
    commands = _commands()
    assert any(c.startswith("helm install data charts/dlpipe-storage") for c in commands), commands
    assert any(c.startswith("helm install pipeline charts/dlpipe ") for c in commands), commands
    result = _run(helm, commands, _fresh_clone(tmp_path / "clone"), tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "kind: PersistentVolumeClaim" in result.stdout and "kind: Job" in result.stdout


def test_without_the_dependency_step_helm_names_what_is_missing(helm: str, tmp_path: Path) -> None:
    installs = [c for c in _commands() if c.startswith("helm install ")]
    result = _run(helm, installs[:1], _fresh_clone(tmp_path / "clone"), tmp_path / "home")
    assert result.returncode != 0 and "dlpipe-common" in result.stderr


@pytest.mark.parametrize("chart", charts.chart_dirs(kind=None), ids=lambda c: c.name)
def test_no_chart_needs_a_repository(chart: Path) -> None:
    """`helm dependency build` works offline: every dependency is a file:// path in the clone."""
    import yaml

    for dependency in yaml.safe_load((chart / "Chart.yaml").read_text()).get("dependencies", []):
        assert dependency["repository"].startswith("file://"), dependency
