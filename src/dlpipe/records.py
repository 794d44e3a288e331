"""The record format of a dataset version: feature dtypes, holes, the parse spec, raw batches.

Ingest writes ``tf.train.Example`` records whose features the manifest
describes (``{"dtype": "float32"|"int64"|"string", "shape": [...]}``); training,
the export's serving signatures and evaluation all read them back through this
module. TensorFlow is imported only by the functions that need it.

Tables may have holes, and the records keep them as they are: NaN in a float
feature, an empty string in a string feature. The manifest's ``missing``
section says how to fill each one (the training split's median, or a missing
category) and which features get a 0/1 missing indicator; :func:`fill_missing`
applies it, the same code for the training input and for every request a
served model answers, so serving imputes exactly as training did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlpipe.errors import DlpipeError


def tf_dtype(name: str) -> Any:
    """The TensorFlow dtype of a manifest dtype name."""
    import tensorflow as tf

    return {"float32": tf.float32, "int64": tf.int64, "string": tf.string}[name]


def input_features(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every feature but the label: what a model (and a client) gives."""
    label = manifest["label"]["name"]
    return {name: spec for name, spec in manifest["features"].items() if name != label}


def filled_features(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The features whose holes are filled, with their ``fill`` (and ``indicator``), from the manifest."""
    columns = manifest.get("missing", {}).get("columns", {})
    return {name: column for name, column in columns.items() if "fill" in column}


def model_features(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What a model takes: the input features plus a float 0/1 missing indicator per feature that had holes."""
    indicators = {
        column["indicator"]: {"dtype": "float32", "shape": []}
        for column in filled_features(manifest).values()
        if "indicator" in column
    }
    return {**input_features(manifest), **indicators}


def is_encoded_image(name: str, manifest: dict[str, Any]) -> bool:
    """Images from class folders are stored as the files' encoded bytes (JPEG, PNG, GIF, BMP, WebP)."""
    return manifest["format"] == "images" and manifest["features"].get(name, {}).get("dtype") == "string"


def fill_missing(features: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """Fill holes (NaN, empty strings) in a batch of raw features as the manifest says; add the indicators."""
    import tensorflow as tf

    filled = dict(features)
    for name, column in filled_features(manifest).items():
        value = filled[name]
        hole = tf.equal(value, "") if value.dtype == tf.string else tf.math.is_nan(value)
        filled[name] = tf.where(hole, tf.constant(column["fill"], value.dtype), value)
        if "indicator" in column:
            filled[column["indicator"]] = tf.cast(hole, tf.float32)
    return filled


def hole(dtype: str) -> Any:
    """The value that stands for a missing cell of a feature of this dtype (none for int64)."""
    return {"float32": np.float32("nan"), "string": b""}[dtype]


def parse_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    import tensorflow as tf

    return {
        name: tf.io.FixedLenFeature(spec["shape"], tf_dtype(spec["dtype"]))
        for name, spec in manifest["features"].items()
    }


def feature(value: Any, dtype: str) -> Any:
    """One ``tf.train.Feature`` holding ``value`` (an array or scalar) as ``dtype``."""
    import tensorflow as tf

    if dtype == "float32":
        return tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(value).astype(np.float32)))
    if dtype == "int64":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=np.ravel(value).astype(np.int64)))
    if isinstance(value, str):
        value = value.encode("utf-8")
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def serialize(values: dict[str, tuple[Any, str]]) -> bytes:
    """``{"x": (array, "float32"), "label": (3, "int64")}`` -> serialized ``tf.train.Example``."""
    import tensorflow as tf

    features = {name: feature(value, dtype) for name, (value, dtype) in values.items()}
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def compression(manifest: dict[str, Any]) -> str:
    """TFRecordDataset's compression_type for the dataset's shards."""
    return "GZIP" if manifest.get("compression") == "gzip" else ""


def split_files(directory: Path, manifest: dict[str, Any], split: str) -> list[str]:
    if split not in manifest["splits"]:
        raise DlpipeError(f"the dataset has no {split!r} split", f"splits: {', '.join(manifest['splits'])}")
    return [str(directory / shard["file"]) for shard in manifest["splits"][split]["shards"]]


def raw_batches(directory: Path, manifest: dict[str, Any], split: str, batch_size: int) -> Any:
    """A tf.data.Dataset of (features exactly as stored, labels): what clients send (images stay bytes)."""
    import tensorflow as tf

    files = split_files(directory, manifest, split)
    spec = parse_spec(manifest)
    label = manifest["label"]["name"]

    def parse(batch: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        # Whole batches at once: ~10x faster than one example at a time.
        features = tf.io.parse_example(batch, spec)
        return features, features.pop(label)

    return tf.data.TFRecordDataset(files, compression_type=compression(manifest)).batch(batch_size).map(parse)
