"""`dlpipe run` as the README gives it: the whole pipeline, then again (reused), then serving; its dead ends.

`scripts/run.sh` is `scripts/setup.sh` then `.venv/bin/dlpipe run`: these tests
run `python -m dlpipe run` from this checkout's source, so they test this
checkout whichever one the virtual environment was installed from.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.tooling.net import free_port
from tests.tooling.sample_data import make_npz

REPO = Path(__file__).resolve().parents[1]
RUN = [sys.executable, "-m", "dlpipe", "run"]


def _env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DLPIPE_")}
    return {**clean, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), clean.get("PYTHONPATH", "")])}


def dlpipe_run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*RUN, *args], cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=600)


def test_readme_commands_are_the_tested_ones() -> None:
    readme = (REPO / "README.md").read_text()
    assert "scripts/run.sh" in readme and "scripts/test.sh" in readme


def test_run_end_to_end_then_reused(tmp_path: Path) -> None:
    first = dlpipe_run(tmp_path, "--no-serve")
    assert first.returncode == 0, first.stderr[-3000:]
    out = first.stdout
    assert "dataset   digits version 1\n" in out
    run_id = re.search(r"^run       (\S+): \d+ steps", out, re.M).group(1)
    assert "blessed" in out and "model     digits version 1" in out
    assert re.search(r"^times     ingest [\d.]+s, train [\d.]+s, evaluate [\d.]+s$", out, re.M)
    assert (tmp_path / ".dlpipe" / "models" / "digits" / "1" / "saved_model.pb").is_file()

    again = dlpipe_run(tmp_path, "--no-serve")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "digits version 1 (up to date)" in again.stdout
    assert f"run       {run_id}: " in again.stdout and "(already finished)" in again.stdout
    assert sorted(p.name for p in (tmp_path / ".dlpipe" / "models" / "digits").iterdir() if p.name.isdigit()) == ["1"]


def test_run_serves_the_published_model(tmp_path: Path) -> None:
    port = free_port()
    cmd = [*RUN, "--port", str(port), "--stages", "ingest,train,evaluate,serve"]
    server = subprocess.Popen(
        cmd, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 300
        line = ""
        while "serve     http" not in line:
            line = server.stdout.readline()
            assert line or server.poll() is None, "dlpipe run ended before serving"
            assert time.monotonic() < deadline
        while not line.startswith("try       curl -s -d "):
            line = server.stdout.readline()
            assert line, "no ready-to-paste curl example"
        # The printed command, as a shell would split it when pasted (curl -s -d JSON URL).
        _curl, _s, _d, body, url = shlex.split(line.removeprefix("try"))
        assert url.endswith("/v1/models/digits:predict")
        with urllib.request.urlopen(urllib.request.Request(url, data=body.encode(), method="POST")) as response:
            answer = json.loads(response.read())
        (row,) = answer["predictions"]
        assert len(row["probabilities"]) == 10 and row["classes"][0] in [str(digit) for digit in range(10)]
    finally:
        server.terminate()
        server.wait(30)
    assert sorted(p.name for p in (tmp_path / ".dlpipe").iterdir()) == ["datasets", "models", "runs"], (
        "nothing at the volume root but the documented tree"
    )


def test_run_takes_the_same_settings_as_the_stage_commands(tmp_path: Path) -> None:
    """--config, DLPIPE_* and flags reach every stage of `dlpipe run`, and each stage's events are complete."""
    settings = tmp_path / "pipeline.yaml"
    settings.write_text("ingest:\n  shards: 2\ntrain:\n  batch_size: 128\nevaluate:\n  thresholds: ['accuracy>=0.0']\n")
    env = {**_env(), "DLPIPE_TRAIN__EPOCHS": "1", "DLPIPE_EVALUATE__KEEP": "1"}
    done = dlpipe_run(tmp_path, "--no-serve", "--config", str(settings), "--model-name", "dg", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    root = tmp_path / ".dlpipe"
    manifest = json.loads((root / "datasets/digits/1/manifest.json").read_text())
    assert [len(split["shards"]) for split in manifest["splits"].values()] == [2, 2, 2], "--config reached ingest"
    run_id = re.search(r"^run       (\S+): (\d+) steps", done.stdout, re.M)
    assert int(run_id.group(2)) == manifest["splits"]["train"]["examples"] // 128, "one epoch of batch 128"
    assert "model     dg version 1" in done.stdout, "a flag reached evaluate"
    events = [json.loads(line) for line in (root / "runs" / run_id.group(1) / "events.jsonl").read_text().splitlines()]
    lifecycle = [(e["stage"], e["type"]) for e in events if e["type"] in ("started", "finished", "failed")]
    assert lifecycle == [("train", "started"), ("train", "finished"), ("evaluate", "started"), ("evaluate", "finished")]
    assert {e["run_id"] for e in events} == {run_id.group(1)}
    ingest_events = (root / "datasets/digits/events.jsonl").read_text().splitlines()
    assert [json.loads(line)["type"] for line in ingest_events][-1] == "finished"


def test_a_source_names_its_dataset_and_a_model_not_blessed_stops_the_run(tmp_path: Path) -> None:
    """No --dataset: the data is filed under the source's name. Not blessed: exit 3, why, and no server."""
    source = make_npz(tmp_path / "Sensor Readings.npz")
    port = str(free_port())
    refused = dlpipe_run(tmp_path, "--source", str(source), "--epochs", "1", "--port", port)
    assert refused.returncode == 3, refused.stderr[-3000:]
    assert "dataset   sensor-readings version 1\n" in refused.stdout
    assert re.search(
        r"^evaluate  test accuracy 0\.\d+: NOT blessed \(accuracy 0\.\d+ >= 0\.8: FAIL\)", refused.stdout, re.M
    )
    assert "serve " not in refused.stdout, "nothing new to serve"
    assert refused.stderr.splitlines()[-1] == (
        "dlpipe run: not blessed, so nothing new to serve; try: train longer with --epochs, "
        "try another model with --model, or lower the bar with --threshold"
    )
    root = tmp_path / ".dlpipe"
    assert [p.name for p in (root / "datasets").iterdir()] == ["sensor-readings"], "not filed under digits"
    blessed = dlpipe_run(tmp_path, "--source", str(source), "--epochs", "1", "--no-serve", "--bless-without-thresholds")
    assert blessed.returncode == 0, blessed.stderr[-3000:]
    assert "(already finished)" in blessed.stdout and "model     sensor-readings version 1\n" in blessed.stdout


def test_serving_alone_needs_no_dataset(tmp_path: Path) -> None:
    """`--stages serve` on a volume with nothing but models/ serves (and waits for a first version)."""
    (tmp_path / ".dlpipe" / "models").mkdir(parents=True)
    cmd = [sys.executable, "-m", "dlpipe", "run", "--stages", "serve", "--model-name", "m", "--port", str(free_port())]
    env = {**_env(), "PYTHONPATH": str(REPO / "src")}
    server = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline(), server.stdout.readline()]
        assert lines[0].startswith("serve     nothing published under m yet"), lines
        assert lines[1].startswith("serve     http://127.0.0.1:"), lines
    finally:
        server.terminate()
        server.wait(30)
