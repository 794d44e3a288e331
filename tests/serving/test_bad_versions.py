"""A version that cannot load is reported and retried as TF Serving does, and never keeps the others from serving.

TF Serving retries a failed load ``--max_num_load_retries`` times, LOADING
meanwhile, then reports the version END with the error's code and message
(``core/loader_harness.cc``, ``core/basic_manager.cc``,
``get_model_status_impl.cc``); its availability-preserving policy keeps the
last good version until an aspired one is available
(``core/availability_preserving_policy.cc``); a failed warm-up request fails
the load (``servables/tensorflow/saved_model_warmup_util.cc``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import get_model_status_pb2, model_pb2, model_service_pb2_grpc

from dlpipe.layout import Layout
from dlpipe.serving import modelconfig
from dlpipe.serving.core import ServingCore
from dlpipe.serving.repository import Repository, Retries, State
from dlpipe.serving.status import Code
from tests.serving import toy
from tests.serving.conftest import place, wait_for
from tests.tooling.net import free_port

REPO = Path(__file__).resolve().parents[2]


def _states(repository: Repository) -> dict[int, tuple[str, str]]:
    return {s.version: (State.Name(s.state), Code(s.status.error_code).name) for s in repository.status()}


def _corrupt(build: Path, model_dir: Path, version: int) -> Path:
    """A version whose saved_model.pb is not a SavedModel (a disk error, a half-copied file)."""
    directory = place(build, model_dir, version)
    (directory / "saved_model.pb").write_bytes(b"\x00garbage")
    return directory


def _repository(layout: Layout, policy: str | None, retries: Retries) -> Repository:
    config = modelconfig.config_from_flags("toy", policy, []).model_config_list.config[0]
    return Repository(layout, config, retries)


def test_a_corrupt_version_is_reported_and_the_next_one_serves(tmp_path: Path, toy_builds: dict[int, Path]) -> None:
    layout = Layout(tmp_path)
    _corrupt(toy_builds[1], layout.model_dir("toy"), 1)
    place(toy_builds[2], layout.model_dir("toy"), 2)
    repository = _repository(layout, "all", Retries(max_retries=0))
    repository.refresh()
    assert repository.versions() == [2]
    assert _states(repository) == {2: ("AVAILABLE", "OK"), 1: ("END", "DATA_LOSS")}
    assert "Can't parse" in repository.status()[1].status.error_message


def test_a_numbered_directory_without_its_saved_model_is_not_found(tmp_path: Path, toy_builds: dict[int, Path]) -> None:
    """What an interrupted copy leaves: TF Serving lists it (it looks for no marker) and fails to load it."""
    layout = Layout(tmp_path)
    place(toy_builds[1], layout.model_dir("toy"), 1)
    repository = _repository(layout, None, Retries(max_retries=2, interval=0.0))
    repository.refresh()
    (layout.model_dir("toy") / "2" / "variables").mkdir(parents=True)
    repository.refresh()
    assert _states(repository) == {2: ("END", "NOT_FOUND"), 1: ("AVAILABLE", "OK")}
    assert repository.versions() == [1], "with latest 1, the last good version keeps serving"


def test_a_failed_load_is_retried_until_it_loads(tmp_path: Path, toy_builds: dict[int, Path]) -> None:
    layout = Layout(tmp_path)
    broken = _corrupt(toy_builds[1], layout.model_dir("toy"), 1)
    repository = _repository(layout, None, Retries(max_retries=5, interval=0.2))
    repository.refresh()
    assert _states(repository) == {1: ("LOADING", "OK")}, "while retried: LOADING, no error yet, as TF Serving says"
    shutil.copyfile(toy_builds[1] / "saved_model.pb", broken / "saved_model.pb")
    assert wait_for(lambda: (repository.refresh(), repository.versions() == [1])[1])
    assert _states(repository) == {1: ("AVAILABLE", "OK")}


def test_a_bad_new_version_leaves_the_served_one_serving(tmp_path: Path, toy_builds: dict[int, Path]) -> None:
    layout = Layout(tmp_path)
    place(toy_builds[1], layout.model_dir("toy"), 1)
    repository = _repository(layout, None, Retries(max_retries=0))
    repository.refresh()
    _corrupt(toy_builds[2], layout.model_dir("toy"), 2)
    repository.refresh()
    assert repository.versions() == [1]
    place(toy_builds[3], layout.model_dir("toy"), 3)
    repository.refresh()
    repository.refresh()
    assert repository.versions() == [3]
    assert _states(repository) == {3: ("AVAILABLE", "OK"), 2: ("END", "DATA_LOSS"), 1: ("END", "OK")}


def test_a_warm_up_request_that_fails_fails_the_load(tmp_path: Path, toy_builds: dict[int, Path]) -> None:
    layout = Layout(tmp_path)
    good = place(toy_builds[1], layout.model_dir("toy"), 1)
    toy.write_warmup(good, toy.predict_request(x=np.zeros((1, 2), np.float32), tag=np.array([b"a"], object)))
    bad = place(toy_builds[2], layout.model_dir("toy"), 2)
    toy.write_warmup(bad, toy.predict_request(x=np.zeros((1, 2), np.float32)))  # the tag is missing
    repository = _repository(layout, "all", Retries(max_retries=0))
    repository.refresh()
    assert _states(repository) == {2: ("END", "INVALID_ARGUMENT"), 1: ("AVAILABLE", "OK")}
    assert "input size does not match signature" in repository.status()[0].status.error_message


@pytest.fixture
def restarted(tmp_path: Path, toy_builds: dict[int, Path]) -> Iterator[tuple[int, int, subprocess.Popen[bytes]]]:
    """`dlpipe serve-local` started on a volume where version 1 is corrupt and version 2 good."""
    layout = Layout(tmp_path / "volume")
    _corrupt(toy_builds[1], layout.model_dir("toy"), 1)
    place(toy_builds[2], layout.model_dir("toy"), 2)
    config = tmp_path / "models.config"
    config.write_text('model_config_list { config { name: "toy" base_path: "/data/models/toy" '
                      'model_platform: "tensorflow" model_version_policy { all {} } } }')  # fmt: skip
    port, grpc_port = free_port(), free_port()
    command = [
        *(
            sys.executable,
            "-m",
            "dlpipe",
            "serve-local",
            "--root",
            str(layout.root),
            "--model-config-file",
            str(config),
        ),
        *("--port", str(port), "--grpc-port", str(grpc_port), "--max-num-load-retries", "0"),
    ]
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with (tmp_path / "serve-local.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield port, grpc_port, process
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)


def _rest_status(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/toy", timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return None


def test_a_restart_with_a_broken_version_serves_the_good_one(
    restarted: tuple[int, int, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    port, grpc_port, process = restarted
    assert wait_for(lambda: _rest_status(port) is not None or process.poll() is not None, seconds=120)
    assert process.poll() is None, (tmp_path / "serve-local.log").read_text()
    entries = {e["version"]: e for e in _rest_status(port)["model_version_status"]}
    assert entries["2"]["state"] == "AVAILABLE"
    assert entries["1"]["state"] == "END" and entries["1"]["status"]["error_code"] == "DATA_LOSS"
    assert "Can't parse" in entries["1"]["status"]["error_message"]
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        request = get_model_status_pb2.GetModelStatusRequest(model_spec=model_pb2.ModelSpec(name="toy"))
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=30)
    assert [(s.version, State.Name(s.state)) for s in status.model_version_status] == [(2, "AVAILABLE"), (1, "END")]


def test_serving_core_keeps_serving_when_a_model_directory_disappears(
    tmp_path: Path, toy_builds: dict[int, Path]
) -> None:
    """TF Serving leaves a model as it is when its base path cannot be listed (PollFileSystemForServable)."""
    layout = Layout(tmp_path)
    place(toy_builds[1], layout.model_dir("toy"), 1)
    core = ServingCore([_repository(layout, None, Retries())])
    core.refresh()
    moved = tmp_path / "elsewhere"
    layout.model_dir("toy").rename(moved)
    core.refresh()
    assert core.repositories["toy"].versions() == [1]
