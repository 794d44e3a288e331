"""serve-local's cost per request: REST round trips against calling the same SavedModel
signature in-process, in the same run.

    .venv/bin/python bench/serve_local.py [--requests 500]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import tensorflow as tf

from dlpipe.cli import main as dlpipe
from dlpipe.evaluate.publish import publish
from dlpipe.layout import Layout
from dlpipe.serving.local import LocalServer
from dlpipe.serving.repository import Repository


def _latencies(call, count: int) -> list[float]:
    for _ in range(10):
        call()
    out = []
    for _ in range(count):
        began = time.perf_counter()
        call()
        out.append(time.perf_counter() - began)
    return out


def _describe(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99) - 1]
    return f"{name}: {len(samples) / sum(samples):.0f} requests/s, p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
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
        server = LocalServer(Repository(layout, "digits"), 0).start()
        body = json.dumps({"instances": [{"image": image[0].tolist()}]}).encode()
        url = f"http://127.0.0.1:{server.port}/v1/models/digits:predict"

        def rest() -> None:
            with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST")) as response:
                response.read()

        direct = _latencies(lambda: signature(image=tf.constant(image)), args.requests)
        served = _latencies(rest, args.requests)
        server.stop()
    print(_describe("in-process signature", direct))
    print(_describe("serve-local REST", served))
    print(f"overhead: {statistics.mean(served) / statistics.mean(direct):.2f}x the in-process time per request")


if __name__ == "__main__":
    main()
