"""Whole-or-nothing at every instant: each stage killed at each of its durable steps, then re-run.

The kills come from dlpipe.failpoints (see tests/tooling/crash.py). After every
kill no visible dataset version, model version or run export may be partial,
and the re-run must succeed and verify: for training, the history holds every
epoch exactly once, the last checkpoint is at max_steps and TensorBoard agrees.
An fsync right after another fsync, with nothing written between, is not killed
again: the kill before the first fsync of the run left the same files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """The kills test process death, not power loss: on tmpfs the many fsyncs cost nothing."""
    if not os.access("/dev/shm", os.W_OK):
        yield tmp_path
        return
    work = Path(tempfile.mkdtemp(prefix="dlpipe-crash-", dir="/dev/shm"))
    yield work
    shutil.rmtree(work, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "fewest_steps"), [("ingest", 20), ("ingest-gzip", 20), ("publish", 10),
                                                         ("train", 25)])  # fmt: skip
def test_a_kill_at_every_durable_step_leaves_nothing_partial(scenario: str, fewest_steps: int, scratch: Path) -> None:
    work = scratch
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": f"{REPO / 'src'}:{REPO}"}
    env = {k: v for k, v in env.items() if not k.startswith("DLPIPE_")}
    done = subprocess.run([sys.executable, "-m", "tests.tooling.crash", scenario, str(work)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    reports, summary = [line for line in lines if "k" in line], lines[-1]
    assert summary["steps"] >= fewest_steps
    assert [r["k"] for r in reports] == list(range(1, summary["steps"] + 1)), "every step is reported once"
    attempts = {r["k"]: r for r in reports if "same_as" not in r}
    for report in reports:
        if "same_as" in report:  # an fsync after an fsync of the same run, the first of which was killed
            first = attempts[report["same_as"]]
            assert all(reports[k - 1]["step"].startswith("fsync ") for k in range(first["k"], report["k"] + 1)), report
    assert {"write", "fsync", "rename", "mkdir"} <= {a["step"].split()[0] for a in attempts.values()}, "killed"
    for attempt in attempts.values():
        assert attempt["killed"], f"not killed at step {attempt['k']} ({attempt['step']})"
        assert attempt["problems"] == [], f"after a kill at {attempt['step']}: {attempt['problems']}"
        assert attempt["rerun"] == 0, f"the re-run after a kill at {attempt['step']} failed"
