"""The `dlpipe` command as users run it: exit codes, one-line errors, volume commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dlpipe import __version__


def dlpipe(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DLPIPE_")}
    return subprocess.run(
        [sys.executable, "-m", "dlpipe", *args], capture_output=True, text=True, env={**clean, **(env or {})}, cwd=cwd
    )


def test_help_lists_commands_and_exit_codes() -> None:
    result = dlpipe("--help")
    assert result.returncode == 0
    for word in ("version", "config", "volume", "Exit codes"):
        assert word in result.stdout


def test_subcommand_help() -> None:
    result = dlpipe("volume", "--help")
    assert result.returncode == 0 and "--owner" in result.stdout and "--root" in result.stdout


def test_version() -> None:
    result = dlpipe("version")
    assert result.returncode == 0 and result.stdout.startswith(f"dlpipe {__version__} ")


def test_usage_error_exits_2() -> None:
    result = dlpipe("no-such-command")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_configuration_error_is_one_line_and_exits_2(tmp_path: Path) -> None:
    result = dlpipe("config", env={"DLPIPE_LOG_FORMAT": "xml"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "dlpipe config: error: invalid configuration: log_format: 'xml' is not one of ['auto', 'text', 'json']"
    ]
    assert "Traceback" not in result.stderr


def test_config_shows_the_merged_configuration_with_secrets_hidden(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("progress_interval: 7\n")
    result = dlpipe(
        "config",
        "--config",
        str(config),
        "--root",
        str(tmp_path),
        env={"DLPIPE_S3__SECRET_ACCESS_KEY": "do-not-print"},
    )
    assert result.returncode == 0, result.stderr
    assert "progress_interval: 7" in result.stdout
    assert f"root: {tmp_path}" in result.stdout
    assert "do-not-print" not in result.stdout + result.stderr


def test_local_default_root_is_dot_dlpipe(tmp_path: Path) -> None:
    result = dlpipe("config", cwd=tmp_path)
    assert "root: .dlpipe" in result.stdout


def test_volume_init_then_check(tmp_path: Path) -> None:
    root = tmp_path / "vol"
    init = dlpipe("volume", "init", "--root", str(root), "--log-format", "text")
    assert init.returncode == 0, init.stderr
    assert sorted(p.name for p in root.iterdir()) == ["datasets", "models", "runs"]
    assert (root / "runs").stat().st_mode & 0o7777 == 0o2775
    check = dlpipe("volume", "check", "--root", str(root), "--log-format", "text")
    assert check.returncode == 0, check.stderr
    assert "reads back" in check.stderr
    assert not any((root / ".probe").iterdir()), "the probe file is removed"
    again = dlpipe("volume", "init", "--root", str(root))
    assert again.returncode == 0, "init is idempotent"


def test_volume_check_on_an_unprepared_volume_fails_clearly(tmp_path: Path) -> None:
    result = dlpipe("volume", "check", "--root", str(tmp_path / "empty"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"dlpipe volume: error: {tmp_path / 'empty'} is missing "
        "(run `dlpipe volume init`, or enable the storage chart's prepare Job)"
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_volume_check_on_a_read_only_tree(tmp_path: Path) -> None:
    dlpipe("volume", "init", "--root", str(tmp_path))
    (tmp_path / "runs").chmod(0o555)
    result = dlpipe("volume", "check", "--root", str(tmp_path))
    assert result.returncode == 1 and "not writable" in result.stderr


def test_bad_owner_is_a_usage_error(tmp_path: Path) -> None:
    result = dlpipe("volume", "init", "--root", str(tmp_path), "--owner", "alice")
    assert result.returncode == 2 and "--owner 'alice' is not UID:GID" in result.stderr


def test_volume_init_chowns_when_asked(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    result = dlpipe("volume", "init", "--root", str(tmp_path / "v"), "--owner", "1234:4321")
    assert result.returncode == 0, result.stderr
    stat = (tmp_path / "v" / "models").stat()
    assert (stat.st_uid, stat.st_gid) == (1234, 4321)
