"""Kill a stage at every durable step, check the volume after each kill, re-run it, check again.

Run as ``python -m tests.tooling.crash SCENARIO WORKDIR``; prints one JSON line
per step and a summary line. The tests assert on that report.

Each attempt runs in a process forked from this one, which has imported
TensorFlow but never run an op (so forking is safe): a step costs a fork, not a
TensorFlow import. :mod:`dlpipe.failpoints` kills the child at step K. Attempts
run side by side, one per CPU (at most ``JOBS``), each on a volume of its own.

A kill just before an fsync that directly follows another fsync leaves the very
files the kill before that other fsync left: an fsync changes nothing a process
can see (only a power loss, which these kills do not simulate, could tell them
apart). Such a step is reported ``same_as`` the first fsync of its run and not
killed again, once the counting run has shown that no file was written, renamed
or removed between the two (an audit hook watches every change Python makes).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow  # noqa: F401 - imported once here, so the forked children need not (no op runs here)

from dlpipe import failpoints
from dlpipe.cli import main
from dlpipe.layout import MANIFEST, ExportPaths, Layout
from dlpipe.manifest import read_manifest, verify_shards

CHILD_TIMEOUT_S = 300
KILLED = -signal.SIGKILL
JOBS = max(1, min(4, os.cpu_count() or 1))
# Audit events that change the file system (besides "open" for writing).
_CHANGES = frozenset({"os.chmod", "os.chown", "os.link", "os.mkdir", "os.remove", "os.rename", "os.replace",
                      "os.rmdir", "os.symlink", "os.truncate", "os.utime", "shutil.rmtree"})  # fmt: skip
STEP_MARK = "\0 step\n"  # no path holds a NUL
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def start(work: Callable[[], int], kill_at: int = 0, log: Path | None = None) -> int:
    """Start ``work`` in a child process, armed to be killed at step ``kill_at``; its pid."""
    sys.stdout.flush()  # or the child could print this process's pending lines again
    pid = os.fork()
    if pid == 0:  # the child: never return into the caller's stack
        code = 98
        try:
            failpoints.arm(kill_at, str(log) if log else None)
            code = work()
        except BaseException as exc:  # report, do not propagate into the parent's code
            print(f"child failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            os._exit(code)
    return pid


def forked(work: Callable[[], int], kill_at: int = 0, log: Path | None = None) -> int:
    """Run ``work`` in a child process; its exit code, or minus the signal that ended it."""
    pid = start(work, kill_at, log)
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise TimeoutError(f"a child ran for more than {CHILD_TIMEOUT_S}s")
        time.sleep(0.02)


def cli(*argv: str) -> Callable[[], int]:
    return lambda: main([*argv, "--log-format", "json"])


def durable_steps(work: Callable[[], int], log: Path) -> tuple[list[str], list[bool]]:
    """The steps ``work`` takes, and for each whether the file system changed between it and the next step."""
    log.unlink(missing_ok=True)
    changes = log.with_suffix(".changes")

    def watched() -> int:
        def hook(event: str, args: tuple) -> None:
            # failpoints opens the log once per step, after the kill check: a line there marks a step.
            if event == "open" and str(args[0]) == str(log):
                marks.write(STEP_MARK)
            elif event in _CHANGES or (event == "open" and isinstance(args[2], int) and args[2] & _WRITE_FLAGS):
                marks.write(f"{event} {args[0]}\n")

        marks = changes.open("w", buffering=1)
        sys.addaudithook(hook)
        return work()

    assert forked(watched, log=log) == 0, "the stage fails without a kill"
    steps = log.read_text().splitlines()
    between = changes.read_text().split(STEP_MARK)[1:]  # what changed after each step, before the next
    return steps, [bool(text.strip()) for text in between]


def same_as(steps: list[str], changed: list[bool]) -> dict[int, int]:
    """Steps (1-based) whose kill leaves what an earlier step's kill left: an fsync after an fsync, nothing between."""
    same: dict[int, int] = {}
    for k in range(2, len(steps) + 1):
        before = k - 1
        if steps[before - 1].split()[0] == steps[k - 1].split()[0] == "fsync" and not changed[before - 1]:
            same[k] = same.get(before, before)
    return same


# -- what must hold after any kill ------------------------------------------
def partial_outputs(layout: Layout) -> list[str]:
    """Every visible output that is not whole: dataset and model versions, run exports."""
    problems = []
    for top, marker in ((layout.datasets_dir, MANIFEST), (layout.models_dir, "saved_model.pb")):
        for entry in sorted(top.glob("*/*")):
            if entry.name.isdigit() and not (entry / marker).is_file():
                problems.append(f"{entry} is visible without {marker}")
    for manifest in layout.datasets_dir.glob(f"*/*/{MANIFEST}"):
        try:
            verify_shards(manifest.parent, read_manifest(manifest.parent))
        except Exception as exc:
            problems.append(f"{manifest.parent}: {exc}")
    for export in layout.runs_dir.glob("*/export"):
        paths = ExportPaths(export)
        if not (paths.is_complete() and paths.warmup.is_file() and paths.lineage.is_file()):
            problems.append(f"{export} is visible but not whole")
    return problems


# -- scenarios -----------------------------------------------------------------
def ingest_scenario(work: Path, compression: str) -> tuple[Callable[[Path], Callable[[], int]], Callable]:
    rng = np.random.default_rng(0)
    source = work / "data.npz"
    np.savez(source, x=rng.normal(size=(300, 4)).astype(np.float32), y=rng.integers(0, 3, 300))

    def stage(root: Path) -> Callable[[], int]:
        return cli("ingest", "--root", str(root), "--source", str(source), "--dataset", "d", "--shards", "3",
                   "--compression", compression)  # fmt: skip

    def after_rerun(root: Path) -> list[str]:
        versions = Layout(root).dataset_versions("d")
        return [] if len(versions) == 1 else [f"dataset versions after the re-run: {versions}"]

    return stage, after_rerun


def publish_scenario(work: Path) -> tuple[Callable[[Path], Callable[[], int]], Callable]:
    from dlpipe.evaluate.publish import publish

    export = ExportPaths(work / "export")
    (export.dir / "variables").mkdir(parents=True)
    for i in range(3):
        (export.dir / "variables" / f"variables.data-0000{i}-of-00003").write_bytes(bytes([i]) * 4096)
    export.saved_model.write_bytes(b"graph")
    export.assets_extra.mkdir()
    export.warmup.write_bytes(b"request")
    export.lineage.write_text(json.dumps({"run_id": "r1"}))
    files = sorted(str(p.relative_to(export.dir)) for p in export.dir.rglob("*"))

    def stage(root: Path) -> Callable[[], int]:
        def work() -> int:
            publish(Layout(root), "m", export)
            return 0

        return work

    def after_rerun(root: Path) -> list[str]:
        layout = Layout(root)
        problems = [f"model versions: {layout.model_versions('m')}"] if not layout.model_versions("m") else []
        for version in layout.model_versions("m"):
            copy = layout.model_version_dir("m", version)
            if sorted(str(p.relative_to(copy)) for p in copy.rglob("*")) != files:
                problems.append(f"{copy} differs from the export")
        return problems

    return stage, after_rerun


def train_scenario(work: Path) -> tuple[Callable[[Path], Callable[[], int]], Callable]:
    template = work / "template"
    assert forked(cli("ingest", "--root", str(template), "--source", "sample:digits", "--dataset", "digits")) == 0
    max_steps, batch = 4, 512  # 1438 training examples: 2 steps an epoch, 2 epochs

    def stage(root: Path) -> Callable[[], int]:
        if not root.exists():
            shutil.copytree(template, root, symlinks=True)  # version claims are symlinks to nowhere
        return cli("train", "--root", str(root), "--dataset", "digits", "--run-id", "r1", "--batch-size", str(batch),
                   "--max-steps", str(max_steps))  # fmt: skip

    def after_rerun(root: Path) -> list[str]:
        run = Layout(root).run_paths("r1")
        steps = [entry["step"] for entry in json.loads(run.history.read_text())]
        problems = [] if steps == [2, 4] else [f"history steps {steps}, expected [2, 4]"]
        state = (run.checkpoints / "checkpoint").read_text()
        if f'model_checkpoint_path: "ckpt-{max_steps}"' not in state:
            problems.append(f"the latest checkpoint is not step {max_steps}: {state.splitlines()[0]}")
        if forked(lambda: _check_trained(run.dir)) != 0:
            problems.append("the export does not verify, or TensorBoard's steps differ from the history's")
        return problems

    return stage, after_rerun


def _check_trained(run_dir: Path) -> int:
    """In a child (it runs TensorFlow ops): the export verifies; TensorBoard shows each history step once."""
    import tensorflow as tf

    from dlpipe.export import verify_export

    verify_export(ExportPaths(run_dir / "export"))
    logged = sorted(
        event.step
        for path in (run_dir / "logs").glob("events.out.tfevents.*")
        for event in tf.compat.v1.train.summary_iterator(str(path))
        if any(value.tag == "loss" for value in event.summary.value)
    )
    return 0 if logged == [2, 4] else 1


SCENARIOS = {
    "ingest": lambda work: ingest_scenario(work, "none"),
    "ingest-gzip": lambda work: ingest_scenario(work, "gzip"),
    "publish": publish_scenario,
    "train": train_scenario,
}


def main_loop(scenario: str, work: Path) -> None:
    stage, after_rerun = SCENARIOS[scenario](work)
    steps, changed = durable_steps(stage(work / "count"), work / "steps.log")
    same = same_as(steps, changed)
    todo = [k for k in range(1, len(steps) + 1) if k not in same]
    outcomes: dict[int, dict] = {}
    running: dict[int, int] = {}  # pid -> k
    while todo or running:
        while todo and len(running) < JOBS:  # an attempt per child, reporting through a file
            k = todo.pop(0)
            running[start(lambda k=k: _attempt(stage, after_rerun, work, k))] = k
        pid, status = os.wait()
        k = running.pop(pid)
        report = work / f"attempt-{k}.json"
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and report.is_file(), f"attempt {k} failed"
        outcomes[k] = json.loads(report.read_text())
    for k in range(1, len(steps) + 1):
        print(json.dumps({"k": k, "step": steps[k - 1], **({"same_as": same[k]} if k in same else outcomes[k])}))
    print(json.dumps({"steps": len(steps), "kinds": sorted({line.split()[0] for line in steps})}))


def _attempt(stage: Callable[[Path], Callable[[], int]], after_rerun: Callable, work: Path, k: int) -> int:
    """Kill the stage at step ``k``, check the volume, re-run it, check again; the outcome in attempt-K.json."""
    root = work / f"kill-{k}"
    killed = forked(stage(root), kill_at=k) == KILLED
    partial = partial_outputs(Layout(root))
    rerun = forked(stage(root))
    problems = partial + (after_rerun(root) if rerun == 0 else []) + partial_outputs(Layout(root))
    shutil.rmtree(root, ignore_errors=True)
    (work / f"attempt-{k}.json").write_text(json.dumps({"killed": killed, "rerun": rerun, "problems": problems}))
    return 0


if __name__ == "__main__":
    main_loop(sys.argv[1], Path(sys.argv[2]))
