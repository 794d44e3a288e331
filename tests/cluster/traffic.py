"""What the cluster tests measure while a release changes, kept free of any cluster so that
tests/cluster/test_traffic.py checks it offline: a request that TF Serving accepts built from its
own metadata, a bounded request loop that counts answers by version and every failure, and the
readiness rule (a pod Ready while its wanted version is not AVAILABLE is a violation)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# TF Serving's tensor dtypes (tensorflow/core/framework/types.proto) -> a JSON value of that type.
_ZEROS: dict[str, Any] = {"DT_STRING": "", "DT_BOOL": False}
_ZEROS.update(dict.fromkeys(["DT_FLOAT", "DT_DOUBLE", "DT_HALF", "DT_BFLOAT16"], 0.0))
_ZEROS.update(dict.fromkeys(["DT_INT8", "DT_INT16", "DT_INT32", "DT_INT64", "DT_UINT8", "DT_UINT16"], 0))


def instance_from_metadata(metadata: dict[str, Any], signature: str = "serving_default") -> dict[str, Any]:
    """One all-zero row for ``signature``, from ``GET /v1/models/<model>/metadata``: each input at
    its dtype and shape, the batch dimension dropped. Fails, naming it, on an input of unknown size."""
    inputs = metadata["metadata"]["signature_def"]["signature_def"][signature]["inputs"]
    row = {}
    for name, info in inputs.items():
        if info["dtype"] not in _ZEROS:
            raise ValueError(f"input {name}: no zero value for {info['dtype']}")
        value: Any = _ZEROS[info["dtype"]]
        sizes = [int(dim["size"]) for dim in info["tensor_shape"].get("dim", [])][1:]
        if any(size < 0 for size in sizes):
            raise ValueError(f"input {name}: a dimension of unknown size in {sizes}")
        for size in reversed(sizes):
            value = [value] * size
        row[name] = value
    return row


@dataclass
class RequestLoop:
    """Calls ``send`` (which returns the version that answered, or raises) every ``interval``
    seconds until stopped, at most ``max_requests`` times: counts the answers by version and keeps
    every failure. The pace keeps a 2-CPU runner's API server, which proxies them, responsive."""

    send: Callable[[], int]
    interval: float = 0.05
    max_requests: int = 20_000
    answers: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def run(self) -> None:
        for _ in range(self.max_requests):
            if self._stop.wait(self.interval):
                return
            try:
                self.answers[self.send()] += 1
            except Exception as exc:  # a failed request is what this loop counts
                self.failures.append(f"{type(exc).__name__}: {exc}")

    def start(self) -> RequestLoop:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> RequestLoop:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        return self

    @property
    def total(self) -> int:
        return sum(self.answers.values()) + len(self.failures)


@dataclass
class ReadinessLog:
    """Samples of (pod, Ready, wanted version AVAILABLE), each with Ready read first: since a
    loaded version stays AVAILABLE, Ready then not AVAILABLE means the pod was Ready too early."""

    violations: list[str] = field(default_factory=list)
    ready_pods: set[str] = field(default_factory=set)
    samples: int = 0

    def record(self, pod: str, ready: bool, available: bool) -> None:
        self.samples += 1
        if ready:
            self.ready_pods.add(pod)
            if not available:
                self.violations.append(f"{pod} was Ready while its version was not AVAILABLE")


def poll(until: Callable[[], bool], timeout: float, every: float = 2.0, what: str = "the condition") -> None:
    """Wait for ``until()`` to hold, at most ``timeout`` seconds; fails naming ``what``."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(every)
