"""Data the benchmarks make for themselves (no download): NPZ tables and JPEG class folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FEATURES = 32  # float32 columns per example: 128 bytes of features


def make_npz(path: Path, rows: int) -> int:
    """``rows`` examples of FEATURES float32 columns and a label of 10 classes; returns the file's bytes."""
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(rows, FEATURES)).astype(np.float32), y=rng.integers(0, 10, rows))
    return path.stat().st_size


def make_images(folder: Path, count: int, side: int = 256) -> int:
    """Two class folders of ``count`` JPEGs of noise, ``side`` pixels square; returns their total bytes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    total = 0
    for i in range(count):
        path = folder / f"class{i % 2}" / f"{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(path, quality=85)
        total += path.stat().st_size
    return total
