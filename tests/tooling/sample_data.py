"""Data the ingest and training tests read, generated small; and `dlpipe` run in-process."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from dlpipe.cli import main


def run_cli(*argv: str) -> int:
    """``dlpipe`` in this process (TensorFlow is imported once for the whole session)."""
    return main(list(argv))


def image_bytes(color: tuple[int, int, int], fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 10), color).save(buffer, format=fmt)
    return buffer.getvalue()


def make_image_folders(root: Path, per_class: int = 6) -> Path:
    """cats/ and dogs/ of JPEG and PNG files, one corrupt JPEG and one non-image, as real downloads have."""
    for index, name in enumerate(("Cat", "Dog")):
        folder = root / "PetImages" / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            fmt = "JPEG" if i % 2 else "PNG"
            suffix = ".jpg" if fmt == "JPEG" else ".png"
            (folder / f"{i}{suffix}").write_bytes(image_bytes((40 * i, 100 * index, 7), fmt))
    good = image_bytes((1, 2, 3), "JPEG")
    (root / "PetImages" / "Cat" / "666.jpg").write_bytes(good[: len(good) // 2])  # truncated
    (root / "PetImages" / "Dog" / "Thumbs.db").write_bytes(b"\x00not an image")
    return root / "PetImages"


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, path.relative_to(folder.parent).as_posix())
    return archive


def make_imdb(root: Path) -> Path:
    """The aclImdb layout: train/{pos,neg,unsup}, test/{pos,neg}, plus stray files."""
    base = root / "aclImdb"
    for split, count in (("train", 5), ("test", 3)):
        for label in ("pos", "neg"):
            folder = base / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                (folder / f"{i}_7.txt").write_text(
                    f"a {label} review number {i}, très bien" if label == "pos" else f"bad {i}"
                )
    (base / "train" / "unsup").mkdir()
    (base / "train" / "unsup" / "0_0.txt").write_text("no label")
    (base / "imdb.vocab").write_text("a\nb\n")
    return base


def tar_folder(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(folder, arcname=folder.name)
    return archive


def make_npz(path: Path, rows: int = 300, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(path, x=rng.normal(size=(rows, 4, 3)).astype(np.float32), y=rng.integers(0, 3, size=rows))
    return path


def make_csv(path: Path, rows: int = 120) -> Path:
    rng = np.random.default_rng(1)
    lines = ["height,weight,colour,species"]
    for i in range(rows):
        species = ("setosa", "virginica", "versicolor")[i % 3]
        lines.append(f"{rng.normal():.4f},{rng.integers(1, 9)},{('red', 'blue')[i % 2]},{species}")
    path.write_text("\n".join(lines) + "\n")
    return path
