"""Readers: turn a local file or folder into labelled examples.

A reader returns a :class:`Examples`: the items of each split the source
defines (or all items under ``None``), and an ``encode`` function that turns an
item into a serialized ``tf.train.Example`` — or ``None`` for an item that must
be skipped (a corrupt image), which is counted, never fatal.
"""

from __future__ import annotations

import collections
import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlpipe.errors import ConfigError, DlpipeError
from dlpipe.ingest import examples
from dlpipe.ingest.dense import DenseEncoder

FORMATS = ("auto", "images", "text", "csv", "parquet", "npz", "tfrecord")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
TEXT_SUFFIXES = {".txt"}
TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".tfrecord.gz", ".tfrecords.gz")
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "test": "test",
    "testing": "test",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
}


@dataclass
class Examples:
    format: str
    features: dict[str, dict[str, Any]]
    label: str
    classes: list[str]
    items: dict[str | None, Sequence[Any]]  # split -> items; None: not split by the source
    encode: Callable[[Any], bytes | None]
    skipped: collections.Counter[str] = field(default_factory=collections.Counter)
    # Encodes many items at once into TFRecord-framed bytes, when the data allows it (dense.py).
    encode_block: Callable[[Sequence[Any]], bytes] | None = None


# -- arrays (NPZ, samples, tables) -------------------------------------------
def _labels(values: np.ndarray, label: str) -> tuple[np.ndarray, list[str]]:
    """Class indices 0..n-1 and the class names, for a label column."""
    if np.issubdtype(values.dtype, np.floating) and not np.all(np.mod(values, 1) == 0):
        raise DlpipeError(f"label {label!r} holds fractional numbers; dlpipe ingests classification labels")
    if np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.bool_):
        values = values.astype(np.int64)
    else:
        values = values.astype(str)
    classes, indices = np.unique(values, return_inverse=True)
    return indices.astype(np.int64), [str(c) for c in classes.tolist()]


def from_arrays(fmt: str, columns: dict[str, np.ndarray], label: str) -> Examples:
    """Examples from equally long arrays, one of them the label."""
    if label not in columns:
        raise ConfigError(f"label {label!r} is not in the data", f"columns: {', '.join(sorted(columns))}")
    y, classes = _labels(columns[label], label)
    inputs = {name: arr for name, arr in columns.items() if name != label}
    if not inputs:
        raise DlpipeError("the data holds only the label column")
    lengths = {len(arr) for arr in columns.values()}
    if len(lengths) != 1:
        raise DlpipeError(f"columns differ in length: {sorted(lengths)}")
    dtypes = {name: examples.dtype_of(arr) for name, arr in inputs.items()}
    features = {name: {"dtype": dtypes[name], "shape": list(arr.shape[1:])} for name, arr in inputs.items()}
    features[label] = {"dtype": "int64", "shape": []}

    def encode(i: int) -> bytes:
        values = {name: (inputs[name][i], dtypes[name]) for name in inputs}
        values[label] = (y[i], "int64")
        return examples.serialize(values)

    block = DenseEncoder(inputs, label, y).encode if DenseEncoder.fits(inputs, classes) else None
    return Examples(fmt, features, label, classes, {None: range(len(y))}, encode, encode_block=block)


def read_npz(path: Path, label: str | None) -> Examples:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (ValueError, OSError) as exc:
        raise DlpipeError(f"{path.name} is not a readable .npz file: {exc}") from None
    label = label or "y"
    if label not in arrays:
        raise ConfigError(f"{path.name} has no array {label!r}", f"arrays: {', '.join(sorted(arrays))}; set --label")
    return from_arrays("npz", arrays, label)


def read_table(path: Path, fmt: str, label: str | None, text_column: str | None) -> Examples:
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    try:
        table = pa_csv.read_csv(path) if fmt == "csv" else pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DlpipeError(f"{path.name} is not a readable {fmt} file: {exc}") from None
    label = label or "label"
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if column.null_count:
            raise DlpipeError(f"{path.name}: column {name!r} has {column.null_count} empty values")
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            columns[name] = np.array(column.to_pylist(), dtype=object)
        else:
            columns[name] = column.to_numpy()
    if text_column is not None:
        for wanted in (text_column, label):
            if wanted not in columns:
                raise ConfigError(f"{path.name} has no column {wanted!r}", f"columns: {', '.join(table.column_names)}")
        return from_arrays("text-" + fmt, {"text": columns[text_column], label: columns[label]}, label)
    return from_arrays(fmt, columns, label)


def read_sample(name: str) -> Examples:
    if name != "digits":
        raise ConfigError(f"unknown sample {name!r}", "available: sample:digits")
    from sklearn.datasets import load_digits

    digits = load_digits()
    arrays = {"image": digits.images.astype(np.float32) / 16.0, "label": digits.target}
    return from_arrays("sample:digits", arrays, "label")


# -- class folders (images, text) --------------------------------------------
def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def _split_layout(root: Path) -> dict[str | None, Path] | None:
    """``{"train": root/train, "test": root/test}`` when the folder is split by the source."""
    dirs = {SPLIT_ALIASES.get(d.name.lower()): d for d in _class_dirs(root)}
    if None not in dirs and dirs:
        return dirs  # every sub-folder is a split name
    return None


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def read_class_folders(root: Path, fmt: str) -> Examples:
    splits = _split_layout(root) or {None: root}
    per_split = {split: {d.name: d for d in _class_dirs(folder)} for split, folder in splits.items()}
    # Classes are the folders every split has (aclImdb's train/unsup is not a class).
    classes = sorted(set.intersection(*(set(c) for c in per_split.values())))
    if len(classes) < 2:
        raise DlpipeError(f"{root}: found {len(classes)} class folder(s); need at least two (one per label)")
    if fmt == "auto":
        sample = [f for split in per_split.values() for c in classes for f in _files(split[c])[:20]]
        images = sum(f.suffix.lower() in IMAGE_SUFFIXES for f in sample)
        texts = sum(f.suffix.lower() in TEXT_SUFFIXES for f in sample)
        fmt = "images" if images >= texts else "text"
    skipped: collections.Counter[str] = collections.Counter()
    wanted = IMAGE_SUFFIXES if fmt == "images" else TEXT_SUFFIXES
    items: dict[str | None, list[tuple[Path, int]]] = {}
    for split, class_map in per_split.items():
        items[split] = []
        for index, name in enumerate(classes):
            for path in _files(class_map[name]):
                if path.suffix.lower() in wanted:
                    items[split].append((path, index))
                else:
                    skipped[f"not {'an image' if fmt == 'images' else 'a .txt file'}"] += 1
    encode = _encode_image(skipped) if fmt == "images" else _encode_text(skipped)
    feature = "image" if fmt == "images" else "text"
    features = {feature: {"dtype": "string", "shape": []}, "label": {"dtype": "int64", "shape": []}}
    return Examples(fmt, features, "label", classes, items, encode, skipped)


def _encode_image(skipped: collections.Counter[str]) -> Callable[[tuple[Path, int]], bytes | None]:
    """Reads and verifies one image; thread-safe (the shard writer runs it on every CPU: decoding releases the GIL)."""
    from PIL import Image, UnidentifiedImageError

    counting = threading.Lock()

    def skip(reason: str) -> None:
        with counting:
            skipped[reason] += 1

    def encode(item: tuple[Path, int]) -> bytes | None:
        path, label = item
        data = path.read_bytes()
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in ("JPEG", "PNG"):
                    skip(f"{image.format} image (not JPEG/PNG)")
                    return None
                # A JPEG decodes at 1/8 scale, several times faster: every coefficient of the file is
                # still decoded, so truncated and corrupt files fail in load() all the same.
                image.draft(image.mode, (1, 1))
                image.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            skip("corrupt image")
            return None
        return examples.serialize({"image": (data, "string"), "label": (label, "int64")})

    return encode


def _encode_text(skipped: collections.Counter[str]) -> Callable[[tuple[Path, int]], bytes | None]:
    def encode(item: tuple[Path, int]) -> bytes | None:
        path, label = item
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            skipped["not UTF-8 text"] += 1
            return None
        return examples.serialize({"text": (text, "string"), "label": (label, "int64")})

    return encode


# -- TFRecord ------------------------------------------------------------------
def read_tfrecords(files: list[Path], label: str | None) -> Examples:
    import tensorflow as tf

    label = label or "label"
    records: list[bytes] = []
    for path in files:
        compression = "GZIP" if path.name.endswith(".gz") else ""
        try:
            records.extend(r.numpy() for r in tf.data.TFRecordDataset(str(path), compression_type=compression))
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as exc:
            raise DlpipeError(f"{path.name} is not a valid TFRecord file: {exc.message.splitlines()[0]}") from None
    if not records:
        raise DlpipeError("the TFRecord files hold no records")
    features: dict[str, dict[str, Any]] = {}
    first = tf.train.Example.FromString(records[0])
    for name, value in first.features.feature.items():
        kind = value.WhichOneof("kind")
        length = len(getattr(value, kind).value)
        dtype = {"float_list": "float32", "int64_list": "int64", "bytes_list": "string"}[kind]
        features[name] = {"dtype": dtype, "shape": [] if length == 1 else [length]}
    if features.get(label, {}).get("dtype") != "int64":
        raise ConfigError(f"the records have no int64 feature {label!r}", f"features: {', '.join(sorted(features))}")
    spec = {label: tf.io.FixedLenFeature([], tf.int64)}
    labels = tf.io.parse_example(tf.constant(records), spec)[label].numpy()
    classes = [str(c) for c in range(int(labels.max()) + 1)]
    return Examples("tfrecord", features, label, classes, {None: records}, lambda record: record)


# -- detection -----------------------------------------------------------------
def _single_file_format(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(TFRECORD_SUFFIXES):
        return "tfrecord"
    return {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}.get(path.suffix.lower())


def _unwrap(folder: Path) -> Path:
    """A folder holding one folder and nothing else (a zip of ``PetImages/``) stands for that folder."""
    entries = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    return _unwrap(entries[0]) if len(entries) == 1 and entries[0].is_dir() else folder


def read(path: Path, fmt: str = "auto", label: str | None = None, text_column: str | None = None) -> Examples:
    """Read a local file or folder (archives already unpacked) in format ``fmt``."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r} is not known", f"choose one of {', '.join(FORMATS)}")
    if path.is_file():
        detected = _single_file_format(path) if fmt == "auto" else fmt
        if detected is None:
            raise DlpipeError(f"cannot tell the format of {path.name}", "set --format")
        if detected == "tfrecord":
            return read_tfrecords([path], label)
        if detected in ("csv", "parquet"):
            return read_table(path, detected, label, text_column)
        if detected == "npz":
            return read_npz(path, label)
        raise ConfigError(f"--format {detected} needs a folder, and {path.name} is a file")
    folder = _unwrap(path)
    files = [f for f in _files(folder)]
    data_files = [f for f in files if _single_file_format(f)]
    if fmt == "tfrecord" or (
        fmt == "auto" and data_files and all(_single_file_format(f) == "tfrecord" for f in data_files)
    ):
        return read_tfrecords([f for f in data_files if _single_file_format(f) == "tfrecord"], label)
    if fmt in ("csv", "parquet", "npz") or (fmt == "auto" and len(data_files) == 1 and not _class_dirs(folder)):
        if len(data_files) != 1:
            raise DlpipeError(
                f"{folder}: expected one data file, found {len(data_files)}", "point --source at the file"
            )
        return read(data_files[0], fmt, label, text_column)
    return read_class_folders(folder, fmt)
