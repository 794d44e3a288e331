"""HTTP(S) sources: resumable downloads, sha256 pins, clear failures."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dlpipe import download
from dlpipe.errors import DlpipeError
from dlpipe.layout import Layout
from tests.tooling.sample_data import make_npz, run_cli


class Files:
    """Serves bytes with Range support; can cut the first response short."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.cut_first: set[str] = set()
        self.ranges: list[str | None] = []
        self.hits = 0
        files = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                files.hits += 1
                blob = files.blobs.get(self.path)
                if blob is None:
                    self.send_error(404)
                    return
                start = 0
                header = self.headers.get("Range")
                files.ranges.append(header)
                if header:
                    start = int(header.removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(blob) - 1}/{len(blob)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(blob) - start))
                self.end_headers()
                if self.path in files.cut_first:
                    files.cut_first.discard(self.path)
                    self.wfile.write(blob[start : start + len(blob) // 3])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # drop the connection half-way
                    return
                self.wfile.write(blob[start:])

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"


@pytest.fixture
def files() -> Iterator[Files]:
    server = Files()
    yield server
    server.server.shutdown()


def test_interrupted_download_resumes_with_a_range_request(tmp_path: Path, files: Files) -> None:
    blob = bytes(range(256)) * 4000
    files.blobs["/data.bin"] = blob
    files.cut_first.add("/data.bin")
    target = download.fetch(files.url("/data.bin"), tmp_path / "data.bin", backoff=0.01)
    assert target.read_bytes() == blob
    assert files.ranges[0] is None and files.ranges[1] == f"bytes={len(blob) // 3}-"


def test_sha256_pin(tmp_path: Path, files: Files) -> None:
    files.blobs["/x"] = b"payload"
    good = hashlib.sha256(b"payload").hexdigest()
    assert download.fetch(files.url("/x"), tmp_path / "a", sha256=good).read_bytes() == b"payload"
    with pytest.raises(DlpipeError, match="sha256 is"):
        download.fetch(files.url("/x"), tmp_path / "b", sha256="0" * 64)
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.part").exists()


def test_not_found_is_not_retried(tmp_path: Path, files: Files) -> None:
    with pytest.raises(DlpipeError, match="HTTP 404"):
        download.fetch(files.url("/missing"), tmp_path / "m", backoff=0.01)
    assert files.hits == 1


def test_ingest_from_https_style_url_is_idempotent_with_a_pin(
    tmp_path: Path, files: Files, capsys: pytest.CaptureFixture
) -> None:
    blob = make_npz(tmp_path / "d.npz", rows=60).read_bytes()
    files.blobs["/datasets/d.npz"] = blob
    pin = hashlib.sha256(blob).hexdigest()
    args = ["ingest", "--root", str(tmp_path / "vol"), "--source", files.url("/datasets/d.npz"), "--dataset", "d"]
    assert run_cli(*args, "--sha256", pin) == 0
    served = len(files.ranges)
    assert run_cli(*args, "--sha256", pin) == 0
    assert "d is up to date: version 1" in capsys.readouterr().out
    assert len(files.ranges) == served, "a pinned, unchanged source is not downloaded again"
    assert Layout(tmp_path / "vol").dataset_versions("d") == [1]
