"""Runs as users start them: resume after SIGKILL, two workers, bad models, reused run ids."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlpipe.layout import Layout
from dlpipe.train.strategy import tf_config_for_indexed_job
from tests.tooling.net import free_port
from tests.tooling.sample_data import run_cli

REPO = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLPIPE_", "TF_CONFIG"))}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def _train_cmd(root: Path, run_id: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "dlpipe", "train", "--root", str(root), "--dataset", "digits", "--run-id", run_id,
            "--log-format", "text", *extra]  # fmt: skip


def test_killed_run_resumes_and_ends_at_the_same_step(volume: Path) -> None:
    cmd = _train_cmd(
        volume, "resume", "--model", "mlp", "--max-steps", "400", "--save-steps", "20", "--batch-size", "16"
    )
    child = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = Layout(volume).run_paths("resume").checkpoints
    deadline = time.monotonic() + 180
    while not list(checkpoints.glob("ckpt-*.index")):
        assert child.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    killed_at = max(int(p.name.split("-")[1].split(".")[0]) for p in checkpoints.glob("ckpt-*.index"))
    assert 0 < killed_at < 400
    assert not Layout(volume).run_paths("resume").export.is_complete()

    again = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "resumed from" in again.stderr
    assert "run resume: 400 steps" in again.stdout
    history = json.loads(Layout(volume).run_paths("resume").history.read_text())
    assert history[-1]["step"] == 400
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    assert "run resume is already finished" in done.stdout


def test_two_workers_train_together_and_export_once(volume: Path) -> None:
    ports = [free_port(), free_port()]
    # What the chart renders for workers=2, with the pods' DNS names swapped for 127.0.0.1.
    template = tf_config_for_indexed_job("job", "svc", 2, 0, 2222)
    hosts = [f"127.0.0.1:{port}" for port in ports]
    assert template["cluster"]["worker"] == ["job-0.svc:2222", "job-1.svc:2222"]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        cmd = _train_cmd(
            volume, "pair", "--model", "mlp", "--max-steps", "6", "--batch-size", "32", "--save-steps", "3"
        )
        procs.append(subprocess.Popen(cmd, env=_env(TF_CONFIG=json.dumps(tf_config)), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))  # fmt: skip
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    run = Layout(volume).run_paths("pair")
    assert run.export.is_complete()
    leftovers = [p.name for p in run.dir.iterdir() if p.name.startswith((".tmp-", ".worker-"))]
    assert leftovers == [], "no worker leaves a partial export or scratch checkpoints"
    assert json.loads(run.history.read_text())[-1]["step"] == 6
    assert sorted(p.name for p in run.checkpoints.glob("ckpt-*.index")) == ["ckpt-3.index", "ckpt-6.index"]


def test_user_models(volume: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "team_models.py").write_text(
        "import keras\n"
        "def good(inputs, num_classes, manifest):\n"
        "    x = keras.layers.Flatten()(inputs['image'])\n"
        "    return keras.Model(inputs, keras.layers.Dense(num_classes, activation='softmax')(x))\n"
        "def broken(inputs, num_classes, manifest):\n"
        "    raise RuntimeError('layer sizes do not add up')\n"
        "def not_a_model(inputs, num_classes, manifest):\n"
        "    return 'a string'\n"
    )
    base = ["train", "--root", str(volume), "--dataset", "digits", "--max-steps", "2", "--model-path", str(tmp_path)]
    assert run_cli(*base, "--model", "team_models:good", "--run-id", "user-good") == 0
    assert Layout(volume).run_paths("user-good").export.is_complete()
    capsys.readouterr()
    for spec, message in [
        ("team_models:broken", "--model team_models:broken raised RuntimeError: layer sizes do not add up"),
        ("team_models:not_a_model", "--model team_models:not_a_model returned str, not a keras.Model"),
        ("team_models:missing", "team_models has no function missing"),
        ("no_such_module:f", "cannot import no_such_module"),
    ]:
        code = run_cli(*base, "--model", spec, "--run-id", f"user-{spec.split(':')[1].replace('_', '-')}")
        err = capsys.readouterr().err.strip().splitlines()
        assert code in (1, 2) and len(err) == 1 and message in err[0], err


def test_bad_training_input_is_one_line(volume: Path, capsys: pytest.CaptureFixture) -> None:
    base = ["train", "--root", str(volume), "--max-steps", "2"]
    cases = [
        (["--dataset", "nothing"], "dataset nothing has no versions"),
        (["--dataset", "digits@9"], "dataset digits has no version 9"),
        (["--dataset", "digits", "--model", "text-bigru", "--run-id", "wrong-model"], "needs one text feature"),
        (["--dataset", "digits", "--model", "transformer"], "train.model: 'transformer'"),
        (["--dataset", "digits", "--batch-size", "0"], "train.batch_size: 0 is less than the minimum of 1"),
    ]
    runs_before = set(Layout(volume).run_ids())
    for args, message in cases:
        code = run_cli(*base, *args)
        err = capsys.readouterr().err.strip().splitlines()
        assert code in (1, 2) and len(err) == 1 and message in err[0], (args, err)
    assert set(Layout(volume).run_ids()) == runs_before, "a refused run leaves no runs/<id>/ (and its id stays free)"
    refused = [json.loads(line) for line in Layout(volume).refused_events().read_text().splitlines()]
    assert any(e["type"] == "failed" and "needs one text feature" in e["error"] for e in refused)
    assert run_cli(*base, "--dataset", "digits", "--run-id", "wrong-model") == 0, "the id is still free"


def test_a_run_id_cannot_be_reused_with_other_settings(volume: Path, capsys: pytest.CaptureFixture) -> None:
    base = ["train", "--root", str(volume), "--dataset", "digits", "--run-id", "fixed"]
    assert run_cli(*base, "--max-steps", "2") == 0
    capsys.readouterr()
    assert run_cli(*base, "--max-steps", "3") == 2
    assert "run fixed already exists with other settings" in capsys.readouterr().err


def test_generated_run_id_is_printed(volume: Path, capsys: pytest.CaptureFixture) -> None:
    assert run_cli("train", "--root", str(volume), "--dataset", "digits", "--max-steps", "1") == 0
    out = capsys.readouterr().out
    assert out.startswith("run id: digits-mlp-")


def test_export_verify(volume: Path, capsys: pytest.CaptureFixture) -> None:
    assert (
        run_cli("train", "--root", str(volume), "--dataset", "digits", "--max-steps", "2", "--run-id", "checked") == 0
    )
    capsys.readouterr()
    assert run_cli("export", "verify", "checked", "--root", str(volume)) == 0
    out = capsys.readouterr().out
    assert "checked: ok, serving_default(image) -> probabilities[4, 10], top 5 classes/class_ids/scores (first: " in out
    assert out.rstrip().endswith("); classification agrees")
    assert run_cli("export", "verify", "never-ran", "--wait", "0.2", "--root", str(volume)) == 1
    assert "run never-ran has no export" in capsys.readouterr().err


def test_mixed_precision_and_upload_of_the_run(volume: Path, bucket, capsys: pytest.CaptureFixture) -> None:
    """float16 compute with loss scaling (the GPU default), here forced on the CPU; then the run goes to S3."""
    args = ["train", "--root", str(volume), "--dataset", "digits", "--model", "cnn", "--max-steps", "3",
            "--mixed-precision", "on", "--run-id", "half", "--upload", f"s3://{bucket.bucket}/runs"]  # fmt: skip
    assert run_cli(*args) == 0
    run = Layout(volume).run_paths("half")
    assert json.loads(run.config.read_text())["precision"] == "mixed_float16"
    assert run_cli("export", "verify", "half", "--root", str(volume)) == 0
    keys = {o["Key"] for o in bucket.list_objects_v2(Bucket=bucket.bucket, Prefix="runs/half/")["Contents"]}
    assert {"runs/half/export/saved_model.pb", "runs/half/history.json", "runs/half/config.json"} <= keys


def test_an_upload_without_credentials_is_refused_before_training(
    volume: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not after the hours of training it would follow: a configuration error (exit 2, not retried)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    args = ["train", "--root", str(volume), "--dataset", "digits", "--max-steps", "3", "--run-id", "keyless",
            "--upload", "s3://runs/team"]  # fmt: skip
    assert run_cli(*args) == 2
    assert capsys.readouterr().err.endswith(
        "error: s3://runs/team: no S3 credentials to upload with (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
        "(the charts: s3.existingSecret), or give the pod an IAM role)\n"
    )
    assert not Layout(volume).run_paths("keyless").dir.exists(), "nothing trained, nothing left"


def test_gpus_the_pod_was_given_but_tensorflow_cannot_see_fail_the_run(
    volume: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chart passes gpus as train.gpus: a CPU-only image, or a node whose driver is broken, fails
    in one line instead of training on the CPU for days. (This machine has no GPU.)"""
    monkeypatch.setenv("DLPIPE_TRAIN__GPUS", "1")
    args = ["train", "--root", str(volume), "--dataset", "digits", "--max-steps", "3", "--run-id", "gpu-less"]
    assert run_cli(*args) == 1
    err = capsys.readouterr().err
    assert "error: train.gpus is 1, but TensorFlow sees 0 GPU(s): this would train on the CPU (run the GPU image" in err
    assert not Layout(volume).run_paths("gpu-less").export.is_complete()
