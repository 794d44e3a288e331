"""TensorFlow's start-up noise stays off a user's terminal; -v shows it; real errors still get through."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dlpipe.log import _TF_NOISE

SRC = Path(__file__).resolve().parents[1] / "src"


def python(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLPIPE_", "TF_CPP"))}
    env["PYTHONPATH"] = str(SRC)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize(
    "line",
    [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1795642925.628065   29793 port.cc:153] oneDNN custom operations are on. You may see slightly",
        "I0000 00:00:1795642925.628432   29793 cudart_stub.cc:31] Could not find cuda drivers on your machine",
        "W1125 21:43:28.107 123 loader.cc:12] some warning",
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate",
        "E0000 00:00:1795642930.312093   29793 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
        "E0000 00:00:17.1 1 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to register factory",
    ],
)
def test_start_up_noise_is_recognised(line: str) -> None:
    assert _TF_NOISE.search(line)


@pytest.mark.parametrize(
    "line",
    ["E0000 00:00:1.2 1 env.cc:1] Could not load dynamic library 'libfoo.so'", "Traceback (most recent call last):"],
)
def test_other_lines_are_kept(line: str) -> None:
    assert not _TF_NOISE.search(line)


def test_importing_tensorflow_is_quiet_and_verbose_shows_what_it_printed() -> None:
    quiet = python(
        "from dlpipe import log; log.import_tensorflow(); import tensorflow as tf; print(tf.constant(2) * 3)"
    )
    assert quiet.returncode == 0 and "6" in quiet.stdout
    assert quiet.stderr == ""
    devices = "import tensorflow as tf; tf.config.list_physical_devices()"
    plain = python(devices)
    verbose = python(f"from dlpipe import log; log.import_tensorflow(verbose=True); {devices}")
    assert len(verbose.stderr.splitlines()) == len(plain.stderr.splitlines()), "-v shows TensorFlow's own lines"


def test_a_command_that_uses_tensorflow_prints_only_its_own_lines(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLPIPE_", "TF_CPP"))}
    env["PYTHONPATH"] = str(SRC)
    argv = [
        sys.executable,
        "-m",
        "dlpipe",
        "ingest",
        "--source",
        "sample:digits",
        "--dataset",
        "digits",
        "--root",
        str(tmp_path),
        "--log-format",
        "text",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr and all(line.startswith("INFO ") for line in done.stderr.splitlines()), done.stderr
