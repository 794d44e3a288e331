"""serve-local's cost per request: REST and gRPC round trips against calling the same SavedModel
signature in-process, in the same run; the figure is the p50 overhead over the in-process call.

    .venv/bin/python bench/serve_local.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

from dlpipe.cli import main as dlpipe
from dlpipe.evaluate.publish import publish
from dlpipe.layout import Layout
from dlpipe.serving.local import LocalServer
from dlpipe.serving.repository import Repository


def _latencies(call: Callable[[], object], count: int) -> list[float]:
    for _ in range(20):
        call()
    out = []
    for _ in range(count):
        began = time.perf_counter()
        call()
        out.append(time.perf_counter() - began)
    return out


def _describe(name: str, samples: list[float], baseline: list[float] | None = None) -> str:
    ordered = sorted(samples)
    p50, p99 = statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]
    line = f"{name}: {len(samples) / sum(samples):.0f} requests/s, p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"
    if baseline is None:
        return line
    base = statistics.median(baseline)
    return f"{line}; p50 overhead {(p50 - base) * 1000:.2f} ms ({p50 / base:.1f}x the in-process call)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        root = Path(tmp)
        assert dlpipe(["ingest", "--root", tmp, "--source", "sample:digits", "--dataset", "digits"]) == 0
        assert dlpipe(["train", "--root", tmp, "--dataset", "digits", "--max-steps", "20", "--run-id", "bench"]) == 0
        layout = Layout(root)
        publish(layout, "digits", layout.run_paths("bench").export)
        loaded = tf.saved_model.load(str(layout.model_version_dir("digits", 1)))
        signature = loaded.signatures["serving_default"]
        image = np.random.default_rng(0).random((1, 8, 8)).astype(np.float32)
        server = LocalServer(Repository(layout, "digits"), 0, grpc_port=0).start()
        body = json.dumps({"instances": [{"image": image[0].tolist()}]}).encode()
        url = f"http://127.0.0.1:{server.port}/v1/models/digits:predict"
        request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="digits"))
        request.inputs["image"].CopyFrom(tf.make_tensor_proto(image))

        def rest() -> None:
            with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST")) as response:
                response.read()

        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            direct = _latencies(lambda: signature(image=tf.constant(image)), args.requests)
            served = _latencies(rest, args.requests)
            over_grpc = _latencies(lambda: stub.Predict(request, timeout=30), args.requests)
        server.stop()
    print(_describe("in-process signature", direct))
    print(_describe("serve-local REST", served, direct))
    print(_describe("serve-local gRPC", over_grpc, direct))


if __name__ == "__main__":
    main()
