"""What a slow callback receiver costs the stage that emits events."""

from __future__ import annotations

import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from dlpipe.events import Endpoint, EventSink

EVENTS = 2000
RECEIVER_DELAY_S = 0.05


class _Slow(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(RECEIVER_DELAY_S)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def emit_all(sink: EventSink) -> float:
    began = time.perf_counter()
    for step in range(EVENTS):
        sink.emit("progress", step=step)
    return time.perf_counter() - began


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = Endpoint(f"http://127.0.0.1:{server.server_port}/", retries=0)
    with tempfile.TemporaryDirectory() as tmp:
        base = emit_all(EventSink("bench", Path(tmp) / "a.jsonl"))
        sink = EventSink("bench", Path(tmp) / "b.jsonl", [endpoint], deadline=0)
        subject = emit_all(sink)
        sink.close()
    server.shutdown()
    delay_ms = RECEIVER_DELAY_S * 1000
    print(f"emit with a {delay_ms:.0f} ms receiver / emit with none, {EVENTS} events: {subject / base:.2f}x")


if __name__ == "__main__":
    main()
