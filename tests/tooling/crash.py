"""Kill a stage at every durable step, check the volume after each kill, re-run it, check again.

Run as ``python -m tests.tooling.crash SCENARIO WORKDIR``; prints one JSON line
per step killed and a summary line. The tests assert on that report.

Each attempt runs in a process forked from this one, which has imported
TensorFlow but never run an op (so forking is safe): a step costs a fork, not a
TensorFlow import. :mod:`dlpipe.failpoints` kills the child at step K.
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


def forked(work: Callable[[], int], kill_at: int = 0, log: Path | None = None) -> int:
    """Run ``work`` in a child process; its exit code, or minus the signal that ended it."""
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


def durable_steps(work: Callable[[], int], log: Path) -> list[str]:
    log.unlink(missing_ok=True)
    assert forked(work, log=log) == 0, "the stage fails without a kill"
    return log.read_text().splitlines()


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
            shutil.copytree(template, root)
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
    steps = durable_steps(stage(work / "count"), work / "steps.log")
    for k in range(1, len(steps) + 1):
        root = work / f"kill-{k}"
        killed = forked(stage(root), kill_at=k) == KILLED
        partial = partial_outputs(Layout(root))
        rerun = forked(stage(root))
        problems = partial + (after_rerun(root) if rerun == 0 else []) + partial_outputs(Layout(root))
        print(json.dumps({"k": k, "step": steps[k - 1], "killed": killed, "rerun": rerun, "problems": problems}))
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"steps": len(steps), "kinds": sorted({line.split()[0] for line in steps})}))


if __name__ == "__main__":
    main_loop(sys.argv[1], Path(sys.argv[2]))
