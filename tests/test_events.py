"""Event delivery against a real local HTTP receiver: success, retries on 500,
a receiver that never answers, one that refuses, and one that is not there."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dlpipe.events import Endpoint, EventSink
from dlpipe.secrets import Secret
from tests.tooling.net import free_port


class Receiver:
    """An HTTP server whose behaviour per path is set by the test."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict, dict]] = []
        self.attempts: dict[str, int] = {}
        self.fail_first: dict[str, int] = {}
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts[self.path] = receiver.attempts.get(self.path, 0) + 1
                route = self.path.split("?")[0]
                if route == "/hang":
                    receiver.release.wait(30)
                    return
                if route == "/always-500" or receiver.attempts[self.path] <= receiver.fail_first.get(self.path, 0):
                    self.send_response(500)
                elif route == "/refuse":
                    self.send_response(403)
                else:
                    receiver.received.append((self.path, dict(self.headers), json.loads(body)))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_events_are_appended_and_posted_with_headers(tmp_path: Path, receiver: Receiver) -> None:
    log_path = tmp_path / "run" / "events.jsonl"
    endpoint = Endpoint(receiver.url("/ok"), {"Authorization": Secret("Bearer t0ken")})
    with EventSink("train", log_path, [endpoint], run_id="r1") as sink:
        sink.emit("started", dataset="digits@1")
        sink.emit("epoch", epoch=1, loss=0.5)
        sink.emit("finished", export="runs/r1/export")
    assert [e["type"] for e in _lines(log_path)] == ["started", "epoch", "finished"]
    assert [e["seq"] for e in _lines(log_path)] == [1, 2, 3]
    assert [body["type"] for _path, _headers, body in receiver.received] == ["started", "epoch", "finished"]
    _path, headers, body = receiver.received[1]
    assert headers["Authorization"] == "Bearer t0ken"
    assert headers["Content-Type"] == "application/json"
    assert body["stage"] == "train" and body["run_id"] == "r1" and body["loss"] == 0.5
    assert sink.undelivered == 0


def test_a_500_is_retried_until_delivered(tmp_path: Path, receiver: Receiver) -> None:
    receiver.fail_first["/flaky"] = 2
    with EventSink("ingest", tmp_path / "e.jsonl", [Endpoint(receiver.url("/flaky"), retries=3)]) as sink:
        sink.emit("started")
    assert receiver.attempts["/flaky"] == 3
    assert len(receiver.received) == 1 and sink.undelivered == 0


def test_a_receiver_that_always_fails_never_fails_the_stage(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = Endpoint(receiver.url("/always-500?token=s3cret"), {"X-Key": Secret("hunter2")}, retries=2)
    with caplog.at_level(logging.DEBUG, logger="dlpipe"), EventSink("train", tmp_path / "e.jsonl", [endpoint]) as sink:
        sink.emit("started")
        sink.emit("failed", error="boom")
    assert receiver.attempts["/always-500?token=s3cret"] == 6  # 2 events x (1 + 2 retries)
    assert sink.undelivered == 2
    assert len(_lines(tmp_path / "e.jsonl")) == 2  # the local record is complete regardless
    assert "not delivered" in caplog.text
    assert "hunter2" not in caplog.text and "s3cret" not in caplog.text


def test_a_refusing_receiver_is_not_retried(tmp_path: Path, receiver: Receiver) -> None:
    with EventSink("train", None, [Endpoint(receiver.url("/refuse"), retries=5)]) as sink:
        sink.emit("started")
    assert receiver.attempts["/refuse"] == 1 and sink.undelivered == 1


def test_a_hanging_receiver_stalls_the_stage_no_longer_than_the_deadline(tmp_path: Path, receiver: Receiver) -> None:
    # A receiver that accepts and never answers; attempts time out after 5 s
    # each and there are 4 of them, but the stage gives up at its 1 s deadline.
    sink = EventSink("train", tmp_path / "e.jsonl", [Endpoint(receiver.url("/hang"), timeout=5, retries=3)], deadline=1)
    began = time.monotonic()
    for epoch in range(50):
        sink.emit("epoch", epoch=epoch)  # never blocks on the network
    sink.close()
    waited = time.monotonic() - began
    assert waited < 4, f"close() waited {waited:.1f}s despite a 1s deadline"
    assert len(_lines(tmp_path / "e.jsonl")) == 50


def test_events_beyond_the_queue_are_dropped_for_callbacks_but_kept_locally(tmp_path: Path, receiver: Receiver) -> None:
    sink = EventSink("train", tmp_path / "e.jsonl", [Endpoint(receiver.url("/hang"), timeout=5, retries=0)], deadline=0)
    for step in range(1500):
        sink.emit("progress", step=step)  # never blocks, even with the queue full
    sink.close()
    assert sink.dropped >= 1500 - 1000 - 1  # the queue holds 1000, the sender holds one more
    assert len(_lines(tmp_path / "e.jsonl")) == 1500


def test_an_unreachable_receiver_is_harmless(tmp_path: Path) -> None:
    port = free_port()
    with EventSink("train", tmp_path / "e.jsonl", [Endpoint(f"http://127.0.0.1:{port}/", retries=1)]) as sink:
        sink.emit("started")
    assert sink.undelivered == 1


def test_unknown_event_types_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        EventSink("train").emit("halfway")


def test_sink_from_config(tmp_path: Path, receiver: Receiver) -> None:
    config = {
        "events": {
            "deadline": 5,
            "endpoints": [{"type": "event", "endpoint": receiver.url("/ok"), "headers": {"X-T": Secret("v")}}],
        },
    }
    with EventSink.from_config("evaluate", config, tmp_path / "e.jsonl", "r9") as sink:
        sink.emit("finished", blessed=True)
    assert receiver.received[0][2]["run_id"] == "r9"
    assert receiver.received[0][1]["X-T"] == "v"
