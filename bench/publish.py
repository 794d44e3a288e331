"""Cost of crash-safe publishing relative to plain writes of the same files."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from dlpipe.layout import Layout

FILES = 64
FILE_BYTES = 256 * 1024  # 16 MiB in all: a small SavedModel's variables
ROUNDS = 5


def _fill(directory: Path, payload: bytes) -> None:
    (directory / "variables").mkdir(parents=True, exist_ok=True)
    for i in range(FILES):
        (directory / "variables" / f"shard-{i:03d}").write_bytes(payload)
    (directory / "saved_model.pb").write_bytes(payload[:1024])


def plain(root: Path, payload: bytes) -> None:
    _fill(root / "plain" / str(time.monotonic_ns()), payload)


def published(root: Path, payload: bytes) -> None:
    with Layout(root).publish_model("bench") as publication:
        _fill(publication.dir, payload)


def main() -> None:
    payload = bytes(range(256)) * (FILE_BYTES // 256)
    timings: dict[str, list[float]] = {"plain": [], "published": []}
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        root = Path(tmp)
        for _ in range(ROUNDS):
            for name, fn in (("plain", plain), ("published", published)):
                began = time.perf_counter()
                fn(root, payload)
                timings[name].append(time.perf_counter() - began)
        shutil.rmtree(root, ignore_errors=True)
    base, subject = statistics.median(timings["plain"]), statistics.median(timings["published"])
    print(f"publish_model / plain write, {FILES} x {FILE_BYTES // 1024} KiB, median of {ROUNDS}: {subject / base:.2f}x")


if __name__ == "__main__":
    main()
