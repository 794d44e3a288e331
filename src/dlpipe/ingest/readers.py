"""Readers: turn a local file or folder into labelled examples.

A reader returns a :class:`Examples`: the items of each split the source
defines (or all items under ``None``), and an ``encode`` function that turns an
item into a serialized ``tf.train.Example`` — or ``None`` for an item that must
be skipped (a corrupt image), which is counted, never fatal.
"""

from __future__ import annotations

import collections
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlpipe.errors import ConfigError, DlpipeError
from dlpipe.ingest import archives, folders, missing
from dlpipe.ingest.dense import DenseEncoder
from dlpipe.records import serialize

FORMATS = ("auto", "images", "text", "csv", "parquet", "npz", "tfrecord")
TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".tfrecord.gz", ".tfrecords.gz")


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
    # The class index of an item, for sources split by their publisher (stratifies a carved validation split).
    label_of: Callable[[Any], int] | None = None
    # What was done about a table's empty cells (missing.py); the manifest's ``missing`` section.
    missing: missing.Plan | None = None


@dataclass(frozen=True)
class Request:
    """How to read the source: the ``ingest`` settings readers use."""

    format: str
    label: str | None
    text_column: str | None
    missing: str


# -- arrays (NPZ, samples, tables) -------------------------------------------
def dtype_of(array: np.ndarray) -> str:
    """The manifest dtype a numpy array is stored as."""
    if np.issubdtype(array.dtype, np.floating):
        return "float32"
    if np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.bool_):
        return "int64"
    return "string"


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
    dtypes = {name: dtype_of(arr) for name, arr in inputs.items()}
    features = {name: {"dtype": dtypes[name], "shape": list(arr.shape[1:])} for name, arr in inputs.items()}
    features[label] = {"dtype": "int64", "shape": []}

    def encode(i: int) -> bytes:
        values = {name: (inputs[name][i], dtypes[name]) for name in inputs}
        values[label] = (y[i], "int64")
        return serialize(values)

    block = DenseEncoder(inputs, label, y).encode if DenseEncoder.fits(inputs, classes) else None
    return Examples(fmt, features, label, classes, {None: range(len(y))}, encode, encode_block=block)


_KERAS_SPLITS = {"train": "train", "test": "test", "val": "validation", "valid": "validation"}


def _keras_splits(arrays: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """Keras's layout (mnist.npz: x_train, y_train, x_test, y_test; x_val, y_val), as {split: (x, y)}."""
    pairs = {_KERAS_SPLITS[s]: (arrays[f"x_{s}"], arrays[f"y_{s}"]) for s in _KERAS_SPLITS
             if f"x_{s}" in arrays and f"y_{s}" in arrays}  # fmt: skip
    return pairs if "train" in pairs and len(arrays) == 2 * len(pairs) else None


def read_npz(path: Path, label: str | None) -> Examples:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (ValueError, OSError) as exc:
        raise DlpipeError(f"{path.name} is not a readable .npz file: {exc}") from None
    if label is None and (splits := _keras_splits(arrays)):
        return _split_arrays(splits)
    label = label or "y"
    if label not in arrays:
        raise ConfigError(f"{path.name} has no array {label!r}", f"arrays: {', '.join(sorted(arrays))}; set --label")
    return from_arrays("npz", arrays, label)


def _split_arrays(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> Examples:
    """One x and one y, the rows of each split the publisher's (a validation split carved from train if none)."""
    x = np.concatenate([pair[0] for pair in splits.values()])
    y = np.concatenate([pair[1] for pair in splits.values()])
    examples = from_arrays("npz", {"x": x, "y": y}, "y")
    indices, _classes = _labels(y, "y")
    bounds = np.cumsum([0, *(len(pair[1]) for pair in splits.values())])
    examples.items = {split: range(bounds[i], bounds[i + 1]) for i, split in enumerate(splits)}
    examples.label_of = lambda row: int(indices[row])
    return examples


def _column(column: Any) -> np.ndarray:
    """A table column as numpy: strings as objects ("" where empty), numbers with empty cells as floats (NaN)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return np.array(pc.fill_null(column, "").to_pylist(), dtype=object)
    if column.null_count:
        return column.cast(pa.float64()).to_numpy()
    return column.to_numpy()


def _delimiter(path: Path) -> str:
    """The CSV's delimiter, from its first lines: ',' and the others spreadsheets and downloads use
    (UCI's semicolons, a .tsv's tabs)."""
    import csv

    with path.open(newline="", encoding="utf-8", errors="replace") as file:
        head = file.read(64 * 1024)
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:  # one column, or nothing to tell from
        return "\t" if path.suffix.lower() == ".tsv" else ","


def read_table(path: Path, fmt: str, request: Request) -> Examples:
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    # Blank cells of string columns are empty values too, not a category named "".
    options = pa_csv.ConvertOptions(strings_can_be_null=True)
    try:
        if fmt == "csv":
            parse = pa_csv.ParseOptions(delimiter=_delimiter(path))
            table = pa_csv.read_csv(path, parse_options=parse, convert_options=options)
        else:
            table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DlpipeError(f"{path.name} is not a readable {fmt} file: {exc}") from None
    if table.num_rows == 0:
        raise DlpipeError(f"{path.name} has no rows", "a header alone is no data: check the file's download")
    label, text = request.label or "label", request.text_column
    for wanted in (label, text):
        if wanted is not None and wanted not in table.column_names:
            raise ConfigError(f"{path.name} has no column {wanted!r}", f"columns: {', '.join(table.column_names)}")
    names = [text, label] if text else table.column_names
    columns = {name: _column(table.column(name)) for name in names}
    skipped: collections.Counter[str] = collections.Counter()
    columns, plan = missing.handle(path.name, columns, label, request.missing, skipped, text)
    if text:
        columns = {"text": columns[text], label: columns[label]}
    examples = from_arrays(f"text-{fmt}" if text else fmt, columns, label)
    examples.skipped, examples.missing = skipped, plan
    return examples


def read_sample(name: str) -> Examples:
    if name != "digits":
        raise ConfigError(f"unknown sample {name!r}", "available: sample:digits")
    from sklearn.datasets import load_digits

    digits = load_digits()
    arrays = {"image": digits.images.astype(np.float32) / 16.0, "label": digits.target}
    return from_arrays("sample:digits", arrays, "label")


# -- class folders (images, text) --------------------------------------------
def read_class_folders(tree: folders.Tree, root: Path, fmt: str, stray: Sequence[Path] = ()) -> Examples:
    found = folders.read(tree, root, fmt, stray)
    feature = "image" if found.format == "images" else "text"
    features = {feature: {"dtype": "string", "shape": []}, "label": {"dtype": "int64", "shape": []}}
    return Examples(found.format, features, "label", found.classes, found.items, found.encoder(), found.skipped,
                    label_of=operator.itemgetter(1))  # fmt: skip


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
    formats = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}
    return formats.get(path.suffix.lower())


def _read_file(path: Path, request: Request) -> Examples:
    detected = _single_file_format(path) if request.format == "auto" else request.format
    if detected is None:
        raise DlpipeError(f"cannot tell the format of {path.name}", "set --format")
    if detected == "tfrecord":
        return read_tfrecords([path], request.label)
    if detected in ("csv", "parquet"):
        return read_table(path, detected, request)
    if detected == "npz":
        return read_npz(path, request.label)
    raise ConfigError(f"--format {detected} needs a folder, and {path.name} is a file")


def read(tree: folders.Tree, request: Request, subdir: str | None = None) -> Examples:
    """Read the source (archives already unpacked): ``subdir`` inside it if given, else what is found below wrappers."""
    if request.format not in FORMATS:
        raise ConfigError(f"--format {request.format!r} is not known", f"choose one of {', '.join(FORMATS)}")
    stray: list[Path] = []
    if subdir:
        folder = tree.select(subdir)
    elif tree.path.is_dir():
        folder, stray = tree.descend(lambda f: _single_file_format(f) is not None)
    else:
        folder = tree.path
    if folder.is_file():
        return _read_file(folder, request)
    found = folders.files(folder)
    inner = [f.name for f in found if archives.is_archive(f)]
    if inner and request.format == "auto" and not folders.subfolders(folder):
        raise DlpipeError(f"{tree.show(folder)} holds archives ({', '.join(inner)}), not the data itself",
                          "unpack the one with the labelled data and ingest that, e.g. --source train.zip")  # fmt: skip
    data_files = [f for f in found if _single_file_format(f)]
    fmt = request.format
    if fmt == "tfrecord" or (
        fmt == "auto" and data_files and all(_single_file_format(f) == "tfrecord" for f in data_files)
    ):
        return read_tfrecords([f for f in data_files if _single_file_format(f) == "tfrecord"], request.label)
    if fmt in ("csv", "parquet", "npz") or (fmt == "auto" and len(data_files) == 1 and not folders.subfolders(folder)):
        if len(data_files) != 1:
            raise DlpipeError(f"{tree.show(folder)}: expected one data file, found {len(data_files)}",
                              "point --source or --subdir at the file")  # fmt: skip
        return _read_file(data_files[0], request)
    return read_class_folders(tree, folder, fmt, stray)
