"""README.md's examples, run: every console block that needs no cluster, in order, in one fresh folder.

A block is a transcript: ``$ `` starts a command (``> `` continues it), any
other line is output the commands must print, in that order, among what they
print (stdout and stderr; other lines may come between). A number with a
decimal point matches any such number (accuracies and times vary from machine
to machine); everything else must be exact, so a wrong class or count fails.
A block that cannot run here says why in an HTML comment just above it:
``<!-- not run: needs a cluster -->``. Background servers (``&``) are stopped at
the end of their block. ``dlpipe`` is this checkout's, run by this Python.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
NOT_RUN = re.compile(r"<!-- not run: (\S.*?) -->\s*$")
DECIMAL = re.compile(r"\d+\.\d+")
PORTS = (8501, 8500)  # serve-local's defaults, which the examples use
LOCK = Path("/tmp/dlpipe-readme-examples.lock")  # one README run at a time on a machine: the ports are fixed
pytestmark = pytest.mark.xdist_group("fixed-ports")  # beside the chart pods that serve on these ports


@dataclass
class Block:
    line: int  # where it starts in README.md
    language: str
    text: str
    not_run: str | None  # why, if it is not run

    @property
    def commands(self) -> str:
        """The block's shell script: its ``$ `` lines and their ``> `` continuations."""
        script = []
        for line in self.text.splitlines():
            if line.startswith("$ "):
                script.append(line[2:])
            elif line.startswith("> ") and script:
                script[-1] += "\n" + line[2:]
        return "\n".join(script) + "\n"

    @property
    def expected(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.strip() and not line.startswith(("$ ", "> "))]


def blocks() -> list[Block]:
    found, lines = [], README.read_text().splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("```") and len(lines[i]) > 3:
            start, language = i, lines[i][3:].strip()
            i += 1
            while not lines[i].startswith("```"):
                i += 1
            before = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
            marker = NOT_RUN.match(before)
            text = "\n".join(lines[start + 1 : i])
            found.append(Block(start + 1, language, text, marker.group(1) if marker else None))
        i += 1
    return found


CONSOLE = [b for b in blocks() if b.language == "console"]
RUN = [b for b in CONSOLE if b.not_run is None]


def pattern(expected: str) -> re.Pattern[str]:
    parts = DECIMAL.split(expected.strip())
    return re.compile(r"\d+\.\d+".join(map(re.escape, parts)))


def missing(expected: list[str], output: str) -> str | None:
    """The first expected line not found, in order, among the output's lines."""
    lines = iter(line.strip() for line in output.splitlines())
    for want in expected:
        wanted = pattern(want)
        if not any(wanted.fullmatch(line) for line in lines):
            return want
    return None


class Folder:
    """The fresh folder the blocks run in, one after another, and what each printed."""

    def __init__(self, path: Path) -> None:
        self.path, self.done = path, 0
        shims = path / ".bin"
        shims.mkdir()
        dlpipe = shims / "dlpipe"
        dlpipe.write_text(f'#!/bin/sh\nexec {sys.executable} -m dlpipe "$@"\n')
        dlpipe.chmod(0o755)
        clean = {k: v for k, v in os.environ.items() if not k.startswith("DLPIPE_")}
        self.env = {**clean, "PATH": f"{shims}{os.pathsep}{clean['PATH']}", "PYTHONPATH": str(REPO / "src")}

    def run_through(self, index: int) -> None:
        """Run the blocks up to ``index`` that have not run yet (a block builds on those before it)."""
        while self.done <= index:
            block = RUN[self.done]
            self.done += 1
            self._run(block)

    def _run(self, block: Block) -> None:
        script = "set -euo pipefail\n" + block.commands
        log = self.path / f".block-{block.line}.log"  # a file, not a pipe: background servers keep theirs open
        with log.open("w") as out:
            shell = subprocess.Popen(["bash", "-c", script], cwd=self.path, env=self.env, start_new_session=True,
                                     stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
            try:
                shell.wait(timeout=600)
            finally:
                with contextlib.suppress(ProcessLookupError):  # the block's background servers
                    os.killpg(shell.pid, signal.SIGTERM)
        output = log.read_text()
        where = f"README.md line {block.line}"
        assert shell.returncode == 0, f"{where}: exit code {shell.returncode}\n{block.commands}\n{output[-4000:]}"
        lost = missing(block.expected, output)
        assert lost is None, f"{where}: expected\n  {lost}\namong\n{textwrap.indent(output[-4000:], '  ')}"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Folder]:
    LOCK.touch(exist_ok=True)
    with LOCK.open() as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for port in PORTS:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    pytest.fail(f"port {port} is in use: the README's examples serve on it")
        yield Folder(tmp_path_factory.mktemp("readme"))


@pytest.mark.parametrize("index", range(len(RUN)), ids=[f"line{b.line}" for b in RUN])
def test_console_block(folder: Folder, index: int) -> None:
    folder.run_through(index)


def test_blocks_have_no_placeholders_and_say_why_they_are_not_run() -> None:
    for block in CONSOLE:
        assert "..." not in block.text and "…" not in block.text, f"README.md line {block.line}: a placeholder"
    assert {b.not_run for b in CONSOLE} - {None} == {
        "installs .venv from the network, then serves until Ctrl-C (tests/test_run_pipeline.py runs `dlpipe run`)",
        "needs your own file",
        "needs a cluster",
        "it is the test suite, this test included",
    }
    assert len(RUN) >= 5, "the examples that need no cluster are run"


def test_the_callback_example_is_a_valid_configuration(tmp_path: Path) -> None:
    """The configuration section's YAML, with its secret reference set: every command accepts it."""
    (example,) = [b for b in blocks() if b.language == "yaml" and "fromEnv" in b.text]
    config = tmp_path / "dlpipe.yaml"
    config.write_text(example.text)
    assert yaml.safe_load(example.text)["events"]["endpoints"][0]["headers"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLPIPE_")}
    env.update(PYTHONPATH=str(REPO / "src"), DLPIPE_HOOK_TOKEN="Bearer from-a-secret")
    done = subprocess.run([sys.executable, "-m", "dlpipe", "config", "--config", str(config)], env=env, cwd=tmp_path,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Authorization: '***'" in done.stdout and "from-a-secret" not in done.stdout


def test_the_matching_rules() -> None:
    assert missing(["times     train 6.6s", "accuracy 0.9"], "x\ntimes     train 12.25s\ny\naccuracy 0.12") is None
    assert missing(["instance 1: 2 99.1%"], "instance 1: 8 99.1%") == "instance 1: 2 99.1%", "a class is exact"
    assert missing(["b", "a"], "a\nb") == "a", "in order"
