"""Progress events: appended to ``events.jsonl`` and POSTed to callback endpoints.

Delivery to endpoints runs on a background thread with bounded retries and
backoff, so a receiver that fails or hangs never fails the stage, and never
holds it up for longer than ``events.deadline`` seconds at exit.
"""

from __future__ import annotations

import contextlib
import json
import queue
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from dlpipe import __version__
from dlpipe.log import get as get_logger
from dlpipe.secrets import Secret

EVENT_TYPES = ("started", "progress", "epoch", "finished", "failed")
_QUEUE_SIZE = 1000
_BACKOFF_START_S = 0.5
_BACKOFF_MAX_S = 5.0
_STOP = object()

log = get_logger("events")


@dataclass(frozen=True)
class Endpoint:
    url: str
    headers: Mapping[str, Secret] = field(default_factory=dict)
    timeout: float = 5.0
    retries: int = 3

    @classmethod
    def from_config(cls, spec: Mapping[str, Any]) -> Endpoint:
        headers = {name: v if isinstance(v, Secret) else Secret(str(v)) for name, v in spec.get("headers", {}).items()}
        return cls(spec["endpoint"], headers, float(spec.get("timeout", 5)), int(spec.get("retries", 3)))

    @property
    def safe_url(self) -> str:
        """The URL without credentials or query string, fit for a log line."""
        parts = urllib.parse.urlsplit(self.url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _Permanent(Exception):
    """The receiver rejected the event (4xx): retrying cannot help."""


def _post(endpoint: Endpoint, body: bytes) -> None:
    request = urllib.request.Request(endpoint.url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", f"dlpipe/{__version__}")
    for name, value in endpoint.headers.items():
        request.add_header(name, value.reveal())
    try:
        with urllib.request.urlopen(request, timeout=endpoint.timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            raise _Permanent(f"HTTP {exc.code}") from None
        raise


class EventSink:
    """Records events for one stage run; use as a context manager."""

    def __init__(
        self,
        stage: str,
        path: Path | None = None,
        endpoints: list[Endpoint] | None = None,
        deadline: float = 15.0,
        run_id: str | None = None,
    ) -> None:
        self.stage = stage
        self.run_id = run_id
        self.path = path
        self.endpoints = list(endpoints or [])
        self.deadline = deadline
        self.undelivered = 0
        self.dropped = 0
        self._seq = 0
        self._held: list[str] = []  # lines waiting for a path (see attach)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._close_by = float("inf")
        self._queue: queue.Queue[Any] = queue.Queue(_QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        if self.endpoints:
            self._thread = threading.Thread(target=self._deliver_all, name="dlpipe-events", daemon=True)
            self._thread.start()

    @classmethod
    def from_config(
        cls, stage: str, config: Mapping[str, Any], path: Path | None, run_id: str | None = None
    ) -> EventSink:
        events = config["events"]
        endpoints = [Endpoint.from_config(spec) for spec in events["endpoints"]]
        return cls(stage, path, endpoints, float(events["deadline"]), run_id)

    def emit(self, kind: str, **data: Any) -> dict[str, Any]:
        """Record one event; never blocks on the network."""
        if kind not in EVENT_TYPES:
            raise ValueError(f"unknown event type {kind!r}; expected one of {EVENT_TYPES}")
        with self._lock:
            self._seq += 1
            event = {
                "type": kind,
                "stage": self.stage,
                "run_id": self.run_id,
                "seq": self._seq,
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                **data,
            }
            self._held.append(json.dumps(event, sort_keys=True) + "\n")
            if self.path is not None:
                self._write_held()
        if self._thread is not None:
            try:
                self._queue.put_nowait(event)
            except queue.Full:
                if not self.dropped:  # once: a stuck receiver must not flood the log
                    log.warning("callbacks are falling behind: dropping events until they catch up")
                self.dropped += 1
                self.undelivered += len(self.endpoints)
        return event

    def attach(self, path: Path) -> None:
        """Write to ``path`` from now on, the events held so far first; a sink made without a path holds them.

        The first path attached stays: later calls change nothing.
        """
        with self._lock:
            if self.path is None:
                self.path = path
                self._write_held()

    def _write_held(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.writelines(self._held)
        self._held.clear()

    def _deliver_all(self) -> None:
        while (event := self._queue.get()) is not _STOP:
            body = json.dumps(event).encode("utf-8")
            for endpoint in self.endpoints:
                if not self._deliver(endpoint, body, event):
                    self.undelivered += 1

    def _deliver(self, endpoint: Endpoint, body: bytes, event: Mapping[str, Any]) -> bool:
        delay = _BACKOFF_START_S
        for attempt in range(endpoint.retries + 1):
            try:
                _post(endpoint, body)
                return True
            except _Permanent as exc:
                log.warning("callback %s refused %s event: %s", endpoint.safe_url, event["type"], exc)
                return False
            except (OSError, urllib.error.URLError) as exc:
                reason = getattr(exc, "reason", None) or exc
                log.debug("callback %s attempt %d failed: %s", endpoint.safe_url, attempt + 1, reason)
            # Full jitter keeps many pods from retrying in lock-step.
            if attempt == endpoint.retries or not self._pause(random.uniform(0, delay)):
                break
            delay = min(delay * 2, _BACKOFF_MAX_S)
        if time.monotonic() < self._close_by:  # past it, close() has already reported
            log.warning("callback %s: %s event %d not delivered", endpoint.safe_url, event["type"], event["seq"])
        return False

    def _pause(self, seconds: float) -> bool:
        """Sleep before a retry; False when that would run past the closing deadline."""
        end = time.monotonic() + seconds
        self._closing.wait(seconds)  # wakes early when close() sets the deadline
        if end > self._close_by:
            return False
        time.sleep(max(0.0, end - time.monotonic()))
        return True

    def close(self) -> None:
        """Flush callbacks for at most ``deadline`` seconds, then give up on the rest."""
        if self._thread is None:
            return
        self._close_by = time.monotonic() + self.deadline
        self._closing.set()
        with contextlib.suppress(queue.Full):  # the join below still bounds the wait
            self._queue.put(_STOP, timeout=self.deadline)
        self._thread.join(max(0.0, self._close_by - time.monotonic()))
        if self._thread.is_alive():
            pending = self._queue.qsize()
            log.warning("gave up on callbacks after %.0fs: about %d events not delivered", self.deadline, pending + 1)
        if self.dropped:
            log.warning("%d events were dropped for callbacks (they are all in events.jsonl)", self.dropped)
        self._thread = None

    def __enter__(self) -> EventSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
