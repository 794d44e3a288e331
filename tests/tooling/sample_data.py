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


def make_pets_download(root: Path, per_class: int = 6) -> Path:
    """The cats-vs-dogs download as shipped: ``PetImages/{Cat,Dog}`` beside a readme and a .docx (``root``)."""
    make_image_folders(root, per_class)
    (root / "readme[1].txt").write_text("Cats and dogs, from the Asirra CAPTCHA.\n")
    (root / "MSR-LA - 3467.docx").write_bytes(b"PK\x03\x04 not really a document")
    return root


def zip_contents(folder: Path, archive: Path) -> Path:
    """A zip of what is inside ``folder`` (no folder of its own around it)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, path.relative_to(folder).as_posix())
    return archive


def make_income_csv(path: Path, rows: int = 240) -> Path:
    """An income table with holes: blank numbers (age, hours_per_week), blank categories (workclass) and labels.

    The label is a string and follows hours_per_week, so a few steps of training learn something.
    """
    rng = np.random.default_rng(5)
    lines = ["age,hours_per_week,workclass,education,income"]
    for i in range(rows):
        hours = rng.integers(10, 70)
        age = "" if i % 17 == 3 else str(rng.integers(18, 80))
        hours_text = "" if i % 13 == 5 else f"{hours:.1f}"
        workclass = "" if i % 11 == 7 else ("Private", "State-gov", "Self-emp")[i % 3]
        income = "" if i == 100 else (">50K" if hours > 40 else "<=50K")
        lines.append(f"{age},{hours_text},{workclass},{('HS-grad', 'Bachelors')[i % 2]},{income}")
    path.write_text("\n".join(lines) + "\n")
    return path


def make_token_npz(path: Path, rows: int = 200, length: int = 20, seed: int = 0) -> Path:
    """Text already turned into token ids (Keras' imdb.load_data style): x int64 [rows, length], y 0/1."""
    rng = np.random.default_rng(seed)
    np.savez(path, x=rng.integers(1, 1000, size=(rows, length)), y=rng.integers(0, 2, size=rows))
    return path
