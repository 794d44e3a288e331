"""An image model over gRPC: `dlpipe predict --grpc` and the serving chart's helm test (`serving-test`) send encoded
images as `{"b64": ...}` instances, decoded to bytes exactly as the REST server decodes them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dlpipe.evaluate import publish
from dlpipe.layout import Layout
from dlpipe.serving.client import probabilities
from dlpipe.serving.local import LocalServer
from dlpipe.serving.repository import Repository
from tests.tooling.net import free_port
from tests.tooling.sample_data import image_bytes, make_image_folders, run_cli


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    root = tmp_path_factory.mktemp("volume")
    source = make_image_folders(tmp_path_factory.mktemp("pets"), per_class=6)
    assert run_cli("ingest", "--root", str(root), "--dataset", "pets", "--source", str(source)) == 0
    assert run_cli("train", "--root", str(root), "--dataset", "pets", "--model", "cnn", "--image-size", "32",
                   "--batch-size", "4", "--max-steps", "2", "--run-id", "pets") == 0  # fmt: skip
    layout = Layout(root)
    publish.publish(layout, "pets", layout.run_paths("pets").export)
    local = LocalServer(Repository(layout, "pets"), 0, grpc_port=free_port()).start()
    yield local
    local.stop()


def _volume(server: LocalServer) -> Path:
    return server.repository.base.parent.parent


def test_predict_over_grpc_and_rest_with_b64_images(server: LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    images = [image_bytes((200, 30, 7), "JPEG"), image_bytes((10, 90, 250), "PNG")]
    instances = json.dumps([{"image": {"b64": base64.b64encode(image).decode()}} for image in images])
    answers = []
    for transport in (["--grpc", f"127.0.0.1:{server.grpc_port}"], ["--url", f"http://127.0.0.1:{server.port}"]):
        assert run_cli("predict", *transport, "--model", "pets", "--instances", instances, "--json") == 0
        answers.append(json.loads(capsys.readouterr().out))
    grpc, rest = answers
    assert grpc["model_version"] == rest["model_version"] == "1"
    assert np.asarray(probabilities(grpc["predictions"])).shape == (2, 2)
    assert {row["classes"][0] for row in grpc["predictions"]} <= {"Cat", "Dog"}, "answers name the class"
    assert grpc["predictions"] == rest["predictions"], "both transports decode and answer alike"


def test_the_helm_test_command_passes_over_grpc(server: LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    endpoints = ["--rest", f"http://127.0.0.1:{server.port}", "--grpc", f"127.0.0.1:{server.grpc_port}"]
    assert run_cli("serving-test", "--root", str(_volume(server)), "--model", "pets", *endpoints) == 0
    out = capsys.readouterr().out
    assert "REST: pets version 1 answered" in out and "gRPC: pets version 1 answered" in out


def test_instances_that_do_not_fit_are_one_line(server: LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    target = f"127.0.0.1:{server.grpc_port}"
    assert run_cli("predict", "--grpc", target, "--model", "pets", "--instances", '[{"image": 5}]') == 1
    assert "the instances do not fit pets's inputs: " in capsys.readouterr().err
