"""Follow documented shell commands the way a reader would, against ``fake_cluster``.

A doc is a list of ``Block``s: its console code blocks, in order, each the shell text the reader
types (``$ `` prompts and the output below them removed). ``Follower`` runs them with bash, one
block after another in a fresh copy of the repository's tracked files (plus ``.venv`` and
``.tools``: the state ``scripts/setup.sh`` leaves), carrying exported variables and the current
folder from block to block. ``helm`` and ``kubectl`` on its PATH are ``fake_cluster``; cloud
tools are stand-ins that only check the files they are given. A block after a
``<!-- alternative ... -->`` comment is another way to do what the block before it did: it runs
on the state before that block, and its result is dropped; one after ``<!-- aside ... -->`` runs on
the current state, and its result is dropped too (another path the reader may take from there).
The renders of both count: their NOTES are followed like the others'.

Lines that need what no test has (cloning, the set-up's downloads, building images, a web server)
are not run: the checkout is given, and the follower serves ``dist/charts`` itself, so ``helm repo
add`` reaches what ``scripts/charts.sh package`` made. Blocks are checked for ``$VAR`` outside
quotes, which bash splits into words and zsh does not.
"""

from __future__ import annotations

import atexit
import functools
import http.server
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.tooling import charts, fake_cluster

NOT_RUN = re.compile(r"^\s*(git clone|scripts/setup\.sh|(\w+=\S+ )*scripts/build-images\.sh|python3 -m http\.server)")
STAND_INS = ("eksctl", "aws", "curl", "dlpipe")
PLACEHOLDERS = {"<version>": "1", "<N>": "1"}


@dataclass(frozen=True)
class Block:
    source: str  # file:line, for messages
    text: str  # shell text as the reader types it
    side: str = ""  # "alternative" or "aside": its result is dropped (see the module's docstring)


def markdown_blocks(path: Path, section: str | None = None) -> list[Block]:
    """The console blocks of a Markdown file (of one ``## section`` only, when given)."""
    lines = path.read_text().splitlines()
    blocks, inside, start, side, body, current = [], False, 0, "", [], None
    for number, line in enumerate(lines, 1):
        if line.startswith("## "):
            current = line[3:].strip()
        if not inside and re.match(r"```(console|sh|bash|shell)\s*$", line):
            inside, start, body = True, number, []
            side = _marker(lines[: number - 1])
        elif inside and line.startswith("```"):
            inside = False
            if section is None or current == section:
                blocks.append(Block(f"{path.name}:{start}", _typed(body), side))
        elif inside:
            body.append(line)
    return blocks


def _marker(above: list[str]) -> str:
    """``alternative`` or ``aside`` from the HTML comments just above a block (beside others, such
    as tests/test_readme.py's ``<!-- not run: ... -->``)."""
    for line in reversed(above):
        if not line.strip():
            continue
        if not line.startswith("<!--"):
            return ""
        marker = re.match(r"<!--\s*(alternative|aside)\b", line)
        if marker:
            return marker.group(1)
    return ""


def _typed(body: list[str]) -> str:
    """What the reader types: with ``$ `` prompts, those lines and their continuations only."""
    if not any(line.startswith("$ ") for line in body):
        return "\n".join(body)
    typed, continued = [], False
    for line in body:
        if line.startswith("$ ") or continued:
            typed.append(line.removeprefix("$ "))
            continued = line.endswith("\\")
    return "\n".join(typed)


def notes_commands(notes: str) -> list[str]:
    """The commands NOTES print: indented ``helm``/``kubectl`` lines with their continuations."""
    commands, current = [], ""
    for line in notes.splitlines():
        stripped = line.strip()
        if current:
            current += " " + stripped.removesuffix("\\").strip()
        elif re.match(r"(helm|kubectl) ", stripped) and line.startswith(" "):
            current = stripped.removesuffix("\\").strip()
        else:
            continue
        if not stripped.endswith("\\"):
            commands.append(current)
            current = ""
    return commands


def fill_placeholders(command: str) -> str:
    for placeholder, value in PLACEHOLDERS.items():
        command = command.replace(placeholder, value)
    left = re.findall(r"<[^<>\s]+>", command)
    assert not left, f"a placeholder the doc test does not know: {left} in {command}"
    return command


def unquoted_expansions(text: str) -> list[str]:
    """``$VAR`` outside quotes: bash splits its value into words, zsh does not."""
    found = []
    for line in _outside_heredocs(text):
        quote = ""
        for i, char in enumerate(line):
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "#" and (i == 0 or line[i - 1].isspace()):
                break
            elif char == "$" and re.match(r"[A-Za-z_{]", line[i + 1 : i + 2]):
                found.append(line.strip())
                break
    return found


def _outside_heredocs(text: str) -> list[str]:
    lines, terminator = [], None
    for line in text.splitlines():
        if terminator:
            terminator = None if line.strip() == terminator else terminator
            continue
        match = re.search(r"<<-?\s*'?\"?(\w+)", line)
        terminator = match.group(1) if match else None
        lines.append(line)
    return lines


@functools.cache
def _tracked() -> tuple[str, ...]:
    folders = ("charts", "docs", "scripts", "tools", "src", "pyproject.toml", "README.md")
    listed = subprocess.run(["git", "-C", str(charts.REPO), "ls-files", "-z", *folders], capture_output=True,
                            text=True, check=True)  # fmt: skip
    return tuple(name for name in listed.stdout.split("\0") if name)


def fresh_checkout(folder: Path, replace: dict[str, str] | None = None) -> Path:
    """The tracked files as a clone has them (no chart's charts/ built), after scripts/setup.sh."""
    for name in _tracked():
        source, target = charts.REPO / name, folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if replace and name in replace:
            target.write_text(replace[name])
        elif source.exists():
            shutil.copy(source, target)  # with its mode: scripts stay executable
    for link in (".venv", ".tools"):
        (folder / link).symlink_to(charts.REPO / link)
    return folder


@functools.cache
def _render_cache() -> Path:
    """Renders shared by every follower of this test session (the charts are the same files)."""
    folder = Path(tempfile.mkdtemp(prefix="dlpipe-doc-renders-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


_PACKAGE = re.compile(r"^\s*scripts/charts\.sh package --out (\S+)")
_PACKAGED: dict[str, Path] = {}  # the chart repository scripts/charts.sh made, once per session


def _package_once(line: str, scratch: Path) -> str:
    """``scripts/charts.sh package`` runs for real the first time; later checkouts, whose charts are the
    same tracked files, get a copy of what it made (packaging every chart takes seconds)."""
    match = _PACKAGE.match(line)
    if not match:
        return line
    out = shlex.quote(match.group(1))
    if "repository" in _PACKAGED:
        return f"mkdir -p {out} && cp -R {_PACKAGED['repository']}/. {out}"
    _PACKAGED["repository"] = scratch / "packaged-charts"
    return f"scripts/charts.sh package --out {out} && cp -R {out} {_PACKAGED['repository']}"


def _foreground(line: str) -> str:
    """The stand-ins answer at once, so a command sent to the background (``&``) runs in the
    foreground, where its failure counts; ``.venv/bin/dlpipe`` is the ``dlpipe`` stand-in."""
    line = re.sub(r"\s&(\s+#.*)?$", "", line)
    return re.sub(r"^(\s*)\.venv/bin/dlpipe ", r"\1dlpipe ", line)


class _ChartServer(http.server.ThreadingHTTPServer):
    """A static web server of ``<checkout>/dist/charts``, as the walk-through has the reader start."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        super().__init__(("127.0.0.1", 0), handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Outcome:
    ok: bool
    block: Block | None
    message: str


class Follower:
    """Runs blocks in order in ``checkout``; ``helm`` renders with ``real_helm``."""

    def __init__(self, checkout: Path, home: Path, real_helm: str) -> None:
        self.checkout, self.home = checkout, home
        self.state, self.shell_state = home / "cluster.json", home / "shell"
        self.server = _ChartServer(checkout / "dist" / "charts")
        bin_dir = home / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        # python -S: without the virtual environment's site start-up (most of a stand-in's run time);
        # the one package the stand-ins import, yaml, comes from its folder.
        fake, packages = Path(fake_cluster.__file__), Path(yaml.__file__).parent.parent
        for program in ("helm", "kubectl", *STAND_INS):
            shim = bin_dir / program
            shim.write_text(f'#!/bin/sh\nPYTHONPATH={packages} exec "{sys.executable}" -S {fake} {program} "$@"\n')
            shim.chmod(0o755)
        self.env = {
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "DOCS_CLUSTER": str(self.state),
            "DOCS_REAL_HELM": real_helm,
            "DOCS_HELM_MAJOR": charts.helm_version(real_helm).lstrip("v").split(".")[0],
            "DOCS_CHART_SERVER": self.server.url,
            "DOCS_RENDER_CACHE": str(_render_cache()),
            **{f"HELM_{kind}_HOME": str(home / kind.lower()) for kind in ("CACHE", "CONFIG", "DATA")},
        }
        self.shell_state.write_text(f"cd {checkout}\n")
        self.state.write_text(json.dumps(fake_cluster.empty()))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def follow(self, blocks: list[Block]) -> Outcome:
        before: tuple[str, str] | None = None
        for block in blocks:
            split = unquoted_expansions(block.text)
            if split:
                return Outcome(False, block, f"relies on word splitting (zsh passes one argument): {split[0]}")
            if block.side:
                assert before is not None or block.side == "aside", f"{block.source}: an alternative to nothing"
                saved = self._save()
                start = before if block.side == "alternative" and before else saved
                self._restore(start)
                result = self._run(block.text)
                renders = self.renders()[len(json.loads(start[0])["renders"]) :]
                self._restore(saved)
                self._add_renders(renders)  # its NOTES are followed too
            else:
                before = self._save()
                result = self._run(block.text)
            if result.returncode != 0:
                return Outcome(False, block, (result.stderr or result.stdout).strip())
        return Outcome(True, None, "")

    def renders(self) -> list[dict]:
        return json.loads(self.state.read_text())["renders"]

    def follow_notes(self, render: dict, charts_folder: str | None = None) -> Outcome:
        """Run a render's NOTES commands on the cluster as that render left it; drop what they change.
        With ``charts_folder``, a chart the NOTES name ``dlpipe/<chart>`` is taken from that folder."""
        commands = [fill_placeholders(c) for c in notes_commands(render["notes"])]
        if charts_folder:
            commands = [re.sub(r" dlpipe/(dlpipe(?:-[a-z]+)?) ", rf" {charts_folder}\1 ", c) for c in commands]
        scratch = self.home / "notes-cluster.json"  # its renders' snapshots must not overwrite the flow's
        scratch.write_text(Path(render["snapshot"]).read_text())
        result = self._run("\n".join(commands), {"DOCS_CLUSTER": str(scratch)}, keep_shell=False)
        block = Block(f"NOTES of {' '.join(render['command'][:3])}", "\n".join(commands))
        return Outcome(result.returncode == 0, block, result.stderr.strip())

    def _add_renders(self, renders: list[dict]) -> None:
        state = json.loads(self.state.read_text())
        state["renders"] += renders
        self.state.write_text(json.dumps(state))

    def _save(self) -> tuple[str, str]:
        return self.state.read_text(), self.shell_state.read_text()

    def _restore(self, saved: tuple[str, str]) -> None:
        cluster, shell = saved
        self.state.write_text(cluster)
        self.shell_state.write_text(shell)

    def _run(self, text: str, env: dict[str, str] | None = None, keep_shell: bool = True) -> Any:
        typed = text.replace("\\\n", " ").splitlines()
        lines = [": not run" if NOT_RUN.match(line) else _package_once(_foreground(line), self.home)
                 for line in typed]  # fmt: skip
        keep = [f"{{ export -p; echo \"cd '$PWD'\"; }} > {self.shell_state}"] if keep_shell else []
        overrides = [f"export {name}={shlex.quote(value)}" for name, value in (env or {}).items()]
        script = "\n".join([f". {self.shell_state}", *overrides, "set -euo pipefail", *lines, *keep])
        return subprocess.run(["bash", "-c", script], env=self.env, capture_output=True, text=True, cwd=self.checkout)
