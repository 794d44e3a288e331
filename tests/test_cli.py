"""The `dlpipe` command as users run it: exit codes, one-line errors, volume commands."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlpipe import __version__
from dlpipe.cli import build_parser
from tests.tooling.net import free_port

SRC = Path(__file__).resolve().parents[1] / "src"
NOBODY = 65534


def dlpipe(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, user: int | None = None
) -> subprocess.CompletedProcess:
    """``python -m dlpipe`` from this checkout's source, optionally as another user (``setpriv``, when root)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DLPIPE_")}
    clean["PYTHONPATH"] = os.pathsep.join([str(SRC), clean.get("PYTHONPATH", "")])
    as_user = [] if user is None else ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    return subprocess.run([*as_user, sys.executable, "-m", "dlpipe", *args], capture_output=True, text=True,
                          env={**clean, **(env or {})}, cwd=cwd)  # fmt: skip


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A folder every user may enter (pytest's are private), for running dlpipe as another user."""
    folder = Path(tempfile.mkdtemp(prefix="dlpipe-perm-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def unprivileged() -> tuple[int | None, int]:
    """Whom to run dlpipe as so that permissions apply: nobody (via setpriv) when the tests run as root."""
    return (NOBODY, NOBODY) if os.geteuid() == 0 else (None, os.geteuid())


def test_help_lists_commands_and_exit_codes() -> None:
    result = dlpipe("--help")
    assert result.returncode == 0
    for word in ("version", "config", "volume", "Exit codes"):
        assert word in result.stdout


def test_subcommand_help() -> None:
    result = dlpipe("volume", "init", "--help")
    assert result.returncode == 0 and "--owner" in result.stdout and "--root" in result.stdout


def test_version() -> None:
    result = dlpipe("version")
    assert result.returncode == 0 and result.stdout.startswith(f"dlpipe {__version__} ")


def test_usage_error_exits_2() -> None:
    result = dlpipe("no-such-command")
    assert result.returncode == 2 and "invalid choice: 'no-such-command' (choose from version, config" in result.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["trian"], "dlpipe: error: argument COMMAND: invalid choice: 'trian' (did you mean 'train'?)"),
        (
            ["train", "--epcohs", "3"],
            "dlpipe train: error: unrecognized arguments: --epcohs 3 (did you mean --epochs?)",
        ),
        (
            ["dataset", "verfy", "d"],
            "dlpipe dataset: error: argument ACTION: invalid choice: 'verfy' (did you mean 'verify'?)",
        ),
        (
            ["evaluate", "--treshold=accuracy>=0.9"],
            "unrecognized arguments: --treshold=accuracy>=0.9 (did you mean --threshold?)",
        ),
        (["train", "--optimizer", "adma"], "argument --optimizer: invalid choice: 'adma' (did you mean 'adam'?)"),
    ],
)
def test_typos_get_did_you_mean(argv: list[str], message: str) -> None:
    result = dlpipe(*argv)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith(message)


@pytest.mark.parametrize(
    "argv", [["dataset", "verify"], ["volume", "init"], ["blessing", "show"], ["export", "verify"]]
)
def test_each_action_has_its_own_help(argv: list[str]) -> None:
    result = dlpipe(*argv, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: dlpipe {' '.join(argv)} ")


def test_every_option_has_help_so_its_default_shows() -> None:
    def undocumented(parser: argparse.ArgumentParser, path: str) -> Iterator[str]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from undocumented(sub, f"{path} {name}")
            elif action.option_strings and not action.help:
                yield f"{path} {action.option_strings[0]}"

    assert list(undocumented(build_parser(), "dlpipe")) == []


def test_help_shows_defaults() -> None:
    help_text = " ".join(dlpipe("evaluate", "--help").stdout.split())
    for default in ("(default: accuracy>=0.8)", "(default: accuracy>=-0.01)", "(default: test)", "(default: 5)",
                    "default: .dlpipe, /data in a pod)", "(default: auto)"):  # fmt: skip
        assert default in help_text
    assert "(default: 8501)" in " ".join(dlpipe("serve-local", "--help").stdout.split())
    assert "(default: 0)" in " ".join(dlpipe("dataset", "verify", "--help").stdout.split())
    assert "(default: False)" not in help_text and "(default: None)" not in help_text


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


def test_volume_check_without_a_volume_fails_clearly(tmp_path: Path) -> None:
    result = dlpipe("volume", "check", "--root", str(tmp_path / "empty"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"dlpipe volume: error: {tmp_path / 'empty'} is missing (check that the volume is mounted there (--root))"
    ]


def test_volume_check_creates_the_tree_of_a_fresh_writable_volume(open_tmp: Path) -> None:
    """No prepare Job: a volume the stages' uid may write to gets its tree from the storage chart's helm test."""
    user, uid = unprivileged()
    os.chown(open_tmp, uid, uid)
    result = dlpipe("volume", "check", "--root", str(open_tmp), "--log-format", "text", user=user)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in open_tmp.iterdir() if not p.name.startswith(".")) == ["datasets", "models", "runs"]
    assert (open_tmp / "models").stat().st_mode & 0o777 == 0o775 and "created:" in result.stderr


def test_volume_check_of_a_volume_it_may_not_write_says_how_to_hand_it_over(open_tmp: Path) -> None:
    user = unprivileged()[0]
    if user is None:
        pytest.skip("a folder this user may not write needs another user: run as root")
    result = dlpipe("volume", "check", "--root", str(open_tmp), user=user)
    assert result.returncode == 1 and f"{open_tmp} is not writable by uid {user}" in result.stderr
    assert "prepare.enabled=true" in result.stderr and not list(open_tmp.iterdir()), "nothing was created"


def test_volume_check_on_a_read_only_tree(open_tmp: Path) -> None:
    dlpipe("volume", "init", "--root", str(open_tmp))
    (open_tmp / "runs").chmod(0o555)
    result = dlpipe("volume", "check", "--root", str(open_tmp), user=unprivileged()[0])
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


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    port = free_port()
    root = ["--root", str(tmp_path)]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        for argv in (["serve-local", "--model-name", "m", *root], ["run", *root], ["serving-demo", "--model", "m"],
                     ["serving-ready", "--model", "m=1"]):  # fmt: skip
            result = dlpipe(*argv, "--port", str(port))
            assert (result.returncode, result.stderr) == (
                1, f"dlpipe {argv[0]}: error: port {port} is in use: pass --port or stop the other server\n"
            )  # fmt: skip
        result = dlpipe("serve-local", "--model-name", "m", "--grpc-port", str(port), "--port", str(free_port()), *root)
        assert result.stderr.endswith(f"port {port} is in use: pass --grpc-port or stop the other server\n")


def test_a_root_that_is_a_file_or_unreadable_is_one_line(open_tmp: Path) -> None:
    afile = open_tmp / "afile"
    afile.write_text("")
    result = dlpipe("dataset", "list", "--root", str(afile))
    assert result.returncode == 2
    assert result.stderr == f"dlpipe dataset: error: --root {afile} is not a directory " + (
        "(point --root or DLPIPE_ROOT at the volume's folder)\n"
    )
    locked = open_tmp / "locked"
    locked.mkdir(mode=0)
    user, uid = unprivileged()
    result = dlpipe("dataset", "list", "--root", str(locked), user=user)
    assert result.returncode == 1
    assert result.stderr == f"dlpipe dataset: error: cannot read --root {locked}: uid {uid} needs read and execute " + (
        "permission on it\n"
    )


def test_a_folder_dlpipe_may_not_use_is_named_in_one_line(open_tmp: Path) -> None:
    (open_tmp / "datasets").mkdir(mode=0)
    user, uid = unprivileged()
    result = dlpipe("dataset", "list", "--root", str(open_tmp), user=user)
    assert result.returncode == 1
    assert result.stderr == f"dlpipe dataset: error: permission denied: {open_tmp / 'datasets'} " + (
        f"(dlpipe runs as uid {uid}, gid {os.getgid() if user is None else user} and needs read and write "
        "permission there)\n"
    )
    (open_tmp / "datasets").chmod(0o755)
    (open_tmp / "ro").mkdir(mode=0o555)  # a stage names the folder it could not write to
    result = dlpipe("ingest", "--source", "sample:digits", "--dataset", "d", "--root", str(open_tmp / "ro"), user=user)
    assert result.returncode == 1 and result.stderr.splitlines()[-1].endswith(f": {open_tmp / 'ro' / 'datasets'}")


def test_dataset_list_says_when_the_root_does_not_exist_or_is_empty(tmp_path: Path) -> None:
    result = dlpipe("dataset", "list", "--root", str(tmp_path / "nope"))
    assert (result.returncode, result.stderr) == (
        1, f"dlpipe dataset: error: {tmp_path / 'nope'} does not exist (ingest one first with "
        "`dlpipe ingest --source URI`, or point --root at the volume)\n"
    )  # fmt: skip
    result = dlpipe("dataset", "list", "--root", str(tmp_path))
    assert result.returncode == 0 and result.stdout == ""
    assert result.stderr == f"no datasets under {tmp_path} yet: `dlpipe ingest --source URI` adds one\n"
