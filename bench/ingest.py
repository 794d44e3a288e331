"""Ingest throughput on generated tabular (NPZ) data and, with ``--images N``, JPEG
class folders, against a durable raw copy of the same bytes measured in the same
run (the I/O limit). Images are read and verified on every CPU whatever the
number of shard writers (``--workers``).

    .venv/bin/python bench/ingest.py [--megabytes 300] [--workers 1,4] [--images 3000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from generated import FEATURES, make_images, make_npz

from dlpipe.config import load_config
from dlpipe.ingest.pipeline import Options, run_stage
from dlpipe.layout import Layout


def raw_copy(source: Path, dest: Path) -> float:
    """A durable copy, as ingest's output is durable (fsynced before it is published)."""
    began = time.perf_counter()
    shutil.copyfile(source, dest)
    with open(dest, "rb") as handle:
        os.fsync(handle.fileno())
    return time.perf_counter() - began


def raw_copy_tree(source: Path, dest: Path) -> float:
    began = time.perf_counter()
    shutil.copytree(source, dest)
    for path in dest.rglob("*.jpg"):
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    return time.perf_counter() - began


def run_ingest(source: Path, root: Path, workers: int) -> float:
    flags = {"ingest.source": str(source), "ingest.dataset": "bench", "ingest.shards": 8, "ingest.workers": workers,
             "ingest.force": True, "progress_interval": 3600}  # fmt: skip
    config = load_config(flags, environ={})
    began = time.perf_counter()
    run_stage(Options.from_config(config), Layout(root), config)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=300)
    parser.add_argument("--workers", default="1,4")
    parser.add_argument("--images", type=int, default=0, help="also ingest this many generated JPEGs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        work = Path(tmp)
        source = work / "source.npz"
        rows = args.megabytes * (1 << 20) // (FEATURES * 4)
        size_mb = make_npz(source, rows) / (1 << 20)
        copy_s = raw_copy(source, work / "copy.npz")
        print(f"source: {rows} examples, {size_mb:.0f} MB; raw copy {size_mb / copy_s:.0f} MB/s")
        for workers in (int(w) for w in args.workers.split(",")):
            seconds = run_ingest(source, work / f"vol-{workers}", workers)
            print(
                f"ingest, {workers} worker(s): {rows / seconds:,.0f} examples/s, {size_mb / seconds:.1f} MB/s, "
                f"ratio to raw copy {copy_s / seconds:.3f}"
            )
        if args.images:
            photos = work / "photos"
            size_mb = make_images(photos, args.images) / (1 << 20)
            copy_s = raw_copy_tree(photos, work / "photos-copy")
            print(f"images: {args.images} JPEGs, {size_mb:.0f} MB; raw copy {size_mb / copy_s:.0f} MB/s")
            for workers in (int(w) for w in args.workers.split(",")):
                seconds = run_ingest(photos, work / f"img-{workers}", workers)
                print(
                    f"ingest images, {workers} worker(s): {args.images / seconds:,.0f} images/s, "
                    f"{size_mb / seconds:.1f} MB/s, ratio to raw copy {copy_s / seconds:.3f}"
                )


if __name__ == "__main__":
    main()
