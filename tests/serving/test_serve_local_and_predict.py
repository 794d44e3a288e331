"""`dlpipe predict` against `dlpipe serve-local` over real HTTP and gRPC with the digits model, new versions
picked up while serving, the readiness sidecar's verdicts and the serving chart's helm test command."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from dlpipe.errors import DlpipeError
from dlpipe.evaluate import publish
from dlpipe.layout import Layout
from dlpipe.serving.client import probabilities, rest_predict
from dlpipe.serving.local import LocalServer
from dlpipe.serving.ready import serve as serve_ready
from dlpipe.serving.repository import Repository
from tests.serving.conftest import wait_for
from tests.tooling.net import free_port
from tests.tooling.sample_data import run_cli


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vol")
    assert run_cli("ingest", "--root", str(root), "--source", "sample:digits", "--dataset", "digits") == 0
    for run_id in ("first", "second"):
        assert run_cli("train", "--root", str(root), "--dataset", "digits", "--run-id", run_id, "--max-steps", "5") == 0
    publish.publish(Layout(root), "digits", Layout(root).run_paths("first").export)
    return root


@pytest.fixture(scope="module")
def server(volume: Path) -> Iterator[LocalServer]:
    local = LocalServer(Repository(Layout(volume), "digits"), 0, grpc_port=free_port(), poll=0.2).start()
    yield local
    local.stop()


def _instances(volume: Path, count: int = 3) -> list[dict]:
    images = np.random.default_rng(0).random((count, 8, 8)).round(3)
    return [{"image": image.tolist()} for image in images]


def _expected(volume: Path, version: int, instances: list[dict]) -> np.ndarray:
    loaded = tf.saved_model.load(str(Layout(volume).model_version_dir("digits", version)))
    images = tf.constant([i["image"] for i in instances], dtype=tf.float32)
    return loaded.signatures["serving_default"](image=images)["probabilities"].numpy()


def test_rest_and_grpc_answers_equal_the_models_own(volume: Path, server: LocalServer, capsys) -> None:
    instances = _instances(volume)
    expected = _expected(volume, 1, instances)
    assert run_cli("predict", "--url", f"http://127.0.0.1:{server.port}", "--model", "digits", "--json",
                   "--instances", json.dumps(instances)) == 0  # fmt: skip
    rest = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(probabilities(rest["predictions"]), expected, rtol=1e-5, atol=1e-6)
    assert rest["model_version"] == "1"
    assert run_cli("predict", "--grpc", f"127.0.0.1:{server.grpc_port}", "--model", "digits", "--version", "1",
                   "--json", "--instances", json.dumps(instances)) == 0  # fmt: skip
    grpc = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(probabilities(grpc["predictions"]), expected, rtol=1e-5, atol=1e-6)


def test_tf_serving_status_api(server: LocalServer) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/v1/models/digits") as response:
        body = json.loads(response.read())
    assert body["model_version_status"][0]["state"] == "AVAILABLE"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/v1/models/digits/versions/99")
    assert info.value.code == 404


def test_bad_requests_are_400_with_a_reason(server: LocalServer, capsys) -> None:
    assert run_cli("predict", "--url", f"http://127.0.0.1:{server.port}", "--model", "digits",
                   "--instances", '[{"pixels": [1, 2]}]') == 1  # fmt: skip
    assert "HTTP 400" in capsys.readouterr().err
    # An op that fails: TF Serving's words (the op's message, its node), not an eager call's wrapping.
    assert run_cli("predict", "--url", f"http://127.0.0.1:{server.port}", "--model", "digits",
                   "--instances", '[{"image": [[1, 2, 3]]}]') == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "HTTP 400" in err and "[[{{node " in err, err
    assert "Graph execution error" not in err and "stack traces" not in err and "[Op:" not in err, err
    assert run_cli("predict", "--url", "http://127.0.0.1:9", "--model", "digits", "--instances", "[1]") == 1
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err


def test_a_version_published_while_serving_replaces_the_last_one(volume: Path, server: LocalServer) -> None:
    """TF Serving's default policy (latest 1, as the chart's): version 2 comes in, version 1 goes once 2 answers."""
    assert publish.publish(Layout(volume), "digits", Layout(volume).run_paths("second").export) == 2
    assert wait_for(lambda: server.repository.versions() == [2]), "version 2 never replaced version 1"
    instances = _instances(volume)
    url = f"http://127.0.0.1:{server.port}"
    answer = rest_predict(url, "digits", instances)
    assert answer["model_version"] == "2", "latest serves the newest version"
    np.testing.assert_allclose(
        probabilities(answer["predictions"]), _expected(volume, 2, instances), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(DlpipeError, match=r"HTTP 404.*Servable not found for request: Specific\(digits, 1\)"):
        rest_predict(url, "digits", instances, version=1)
    with urllib.request.urlopen(f"{url}/v1/models/digits/versions/1") as response:
        assert json.loads(response.read())["model_version_status"][0]["state"] == "END"


def test_readiness_sidecar(server: LocalServer) -> None:
    def ready(wanted: dict[str, str]) -> tuple[int, dict]:
        sidecar = serve_ready(0, f"http://127.0.0.1:{server.port}", wanted)
        import threading

        threading.Thread(target=sidecar.serve_forever, daemon=True).start()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{sidecar.server_port}/ready") as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        finally:
            sidecar.shutdown()

    assert ready({"digits": str(server.repository.versions()[-1])})[0] == 200
    assert ready({"digits": "latest"})[0] == 200
    code, body = ready({"digits": "7"})
    assert code == 503 and "digits: version 7 not AVAILABLE yet" in body["waiting_for"]
    newest = server.repository.versions()[-1]
    code, body = ready({"digits": f"{newest},{newest + 5}"})  # every version of a specific policy
    assert code == 503 and body["waiting_for"] == [f"digits: version {newest + 5} not AVAILABLE yet"]
    code, body = ready({"other": "latest"})
    assert code == 503


def test_serving_test_replays_the_warm_up_request(volume: Path, server: LocalServer, capsys) -> None:
    """What the chart's helm test runs, against serve-local."""
    rest, grpc = f"http://127.0.0.1:{server.port}", f"127.0.0.1:{server.grpc_port}"
    base = ["serving-test", "--root", str(volume), "--model", "digits", "--rest", rest, "--grpc", grpc]
    newest = max(Layout(volume).model_versions("digits"))
    assert run_cli(*base) == 0
    out = capsys.readouterr().out
    assert f"REST: digits version {newest} answered 4 x 10 probabilities" in out and "gRPC:" in out
    assert run_cli(*base, "--version", "1") == 1, "latest is being served, not version 1"
    assert "expected 1" in capsys.readouterr().err
