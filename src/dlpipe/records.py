"""The record format of a dataset version: feature dtypes, the parse spec, raw batches.

Ingest writes ``tf.train.Example`` records whose features the manifest
describes (``{"dtype": "float32"|"int64"|"string", "shape": [...]}``); training,
the export's serving signature and evaluation all read them back through this
module. TensorFlow is imported only by the functions that need it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlpipe.errors import DlpipeError


def tf_dtype(name: str) -> Any:
    """The TensorFlow dtype of a manifest dtype name."""
    import tensorflow as tf

    return {"float32": tf.float32, "int64": tf.int64, "string": tf.string}[name]


def input_features(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every feature but the label: what a model (and a client) gives."""
    label = manifest["label"]["name"]
    return {name: spec for name, spec in manifest["features"].items() if name != label}


def is_encoded_image(name: str, manifest: dict[str, Any]) -> bool:
    """Images from class folders are stored as encoded JPEG/PNG bytes."""
    return manifest["format"] == "images" and manifest["features"][name]["dtype"] == "string"


def parse_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    import tensorflow as tf

    return {
        name: tf.io.FixedLenFeature(spec["shape"], tf_dtype(spec["dtype"]))
        for name, spec in manifest["features"].items()
    }


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
