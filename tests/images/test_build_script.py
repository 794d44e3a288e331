"""scripts/build-images.sh with a stand-in engine that records each call: every stage is its
target of the one recipe, built from its base with its extra and the version in pyproject.toml;
a known-transient error is retried once and said, any other failure is not. No root needed."""

from __future__ import annotations

import itertools
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.tooling import images
from tools.charts import REPO, package_version

SCRIPT = REPO / "scripts" / "build-images.sh"
TRANSIENT = "Error: committing container: Close_Fd sealing memfd copy: Device or resource busy"

# Records its arguments, a tab-separated line a call; fails the first $FAILURES calls with $FAIL_WITH.
ENGINE = """#!/bin/sh
printf '%s\\t' "$@" >> "$CALLS"
echo >> "$CALLS"
if [ -n "$FAIL_WITH" ] && [ "$(wc -l < "$CALLS")" -le "$FAILURES" ]; then
  echo "$FAIL_WITH" >&2
  exit 1
fi
echo "STEP 1/1: done"
"""


def _build(
    tmp_path: Path, *stages: str, fail_with: str = "", failures: int = 0
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    engine = tmp_path / "engine"
    engine.write_text(ENGINE)
    engine.chmod(engine.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "calls"
    env = {**os.environ, "ENGINE": str(engine), "CALLS": str(calls), "FAIL_WITH": fail_with, "FAILURES": str(failures),
           "PYTHON_IMAGE": "python-base", "TF_IMAGE": "tf-base"}  # fmt: skip
    result = subprocess.run([str(SCRIPT), *stages], capture_output=True, text=True, env=env)
    lines = calls.read_text().splitlines() if calls.exists() else []
    return result, [line.rstrip("\t").split("\t") for line in lines]


def _options(call: list[str]) -> dict[str, str]:
    """``--target``, ``--tag`` and each ``--build-arg K=V`` of an engine call: {"target": …, "tag": …, "K": V}."""
    found = {}
    for flag, value in itertools.pairwise(call):
        if flag in ("--target", "--tag"):
            found[flag.removeprefix("--")] = value
        elif flag == "--build-arg":
            key, _, arg = value.partition("=")
            found[key] = arg
    return found


def test_every_stage_is_a_target_of_the_one_recipe() -> None:
    targets = re.findall(r"^FROM dlpipe AS (\S+)$", (REPO / "images" / "Dockerfile").read_text(), re.MULTILINE)
    assert targets == list(images.stages())
    assert [p.name for p in (REPO / "images").glob("**/Dockerfile")] == ["Dockerfile"]


def test_each_stage_builds_from_its_base_with_its_extra_and_the_package_version(tmp_path: Path) -> None:
    result, calls = _build(tmp_path)
    assert result.returncode == 0, result.stderr
    version = package_version()
    built = {}
    for call in calls:
        assert call[0] == "build" and call[-1] == "." and call[call.index("--file") + 1] == "images/Dockerfile"
        options = _options(call)
        built[options["target"]] = options
        assert options["tag"] == f"dlpipe/dlpipe-{options['target']}:{version}"
        assert options["DLPIPE_VERSION"] == version
    assert list(built) == list(images.stages())
    assert {stage: (o["BASE_IMAGE"], o["EXTRA"]) for stage, o in built.items()} == {
        "storage": ("python-base", ""),
        "ingest": ("python-base", "ingest"),
        "train": ("tf-base", "train"),
        "evaluate": ("tf-base", "evaluate"),
        "serving": ("python-base", "serving"),
    }
    assert result.stdout.splitlines()[-1] == f"built dlpipe/dlpipe-serving:{version}"


def test_a_known_transient_error_is_retried_once_and_said(tmp_path: Path) -> None:
    result, calls = _build(tmp_path, "train", fail_with=TRANSIENT, failures=1)
    assert result.returncode == 0, result.stderr
    assert len(calls) == 2 and calls[0] == calls[1]
    assert "retrying once" in result.stderr and "Close_Fd sealing memfd copy" in result.stderr


def test_a_transient_error_twice_fails(tmp_path: Path) -> None:
    result, calls = _build(tmp_path, "train", fail_with=TRANSIENT, failures=2)
    assert result.returncode != 0 and len(calls) == 2
    assert "built" not in result.stdout


def test_other_failures_are_not_retried(tmp_path: Path) -> None:
    result, calls = _build(
        tmp_path, "ingest", fail_with="Error: building at STEP RUN pip wheel: exit status 1", failures=5
    )
    assert result.returncode != 0 and len(calls) == 1
    assert "retrying" not in result.stderr


def test_an_unknown_stage_is_refused(tmp_path: Path) -> None:
    result, calls = _build(tmp_path, "tensorboard")
    assert result.returncode == 2 and not calls
    assert "no stage tensorboard in images/stages" in result.stderr


def test_the_image_tests_retry_the_same_errors(tmp_path: Path) -> None:
    """The tests' own buildah steps (the TensorFlow base) read the same list of transient errors."""
    marker = tmp_path / "failed-once"
    script = f'if [ ! -e {marker} ]; then touch {marker}; echo "{TRANSIENT}" >&2; exit 125; fi; echo installed'
    with pytest.warns(UserWarning, match="retried once: Close_Fd sealing memfd copy"):
        assert images._run("sh", "-c", script, retry_transient=True) == "installed"
    marker.unlink()
    with pytest.raises(AssertionError, match="failed"):
        images._run("sh", "-c", script)
