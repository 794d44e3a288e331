"""The bulk encoder produces records TensorFlow reads exactly like tf.train.Example ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from dlpipe.ingest.dense import DenseEncoder
from dlpipe.records import serialize


def test_bulk_records_parse_like_protobuf_ones(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    inputs = {
        "pixels": rng.normal(size=(50, 3, 2)).astype(np.float64),  # stored as float32
        "a_scalar": rng.normal(size=50).astype(np.float32),
    }
    labels = rng.integers(0, 128, size=50)
    labels[:2] = [0, 127]  # both ends of the one-byte range
    encoder = DenseEncoder(inputs, "target", labels)
    rows = [7, 0, 1, 49, 3]
    (tmp_path / "bulk.tfrecord").write_bytes(encoder.encode(rows).tobytes())
    with tf.io.TFRecordWriter(str(tmp_path / "proto.tfrecord")) as writer:
        for i in rows:
            values = {name: (arr[i], "float32") for name, arr in inputs.items()}
            writer.write(serialize({**values, "target": (labels[i], "int64")}))
    spec = {
        "pixels": tf.io.FixedLenFeature([3, 2], tf.float32),
        "a_scalar": tf.io.FixedLenFeature([], tf.float32),
        "target": tf.io.FixedLenFeature([], tf.int64),
    }

    def read(name: str) -> dict[str, np.ndarray]:
        # TFRecordDataset verifies every length and data CRC.
        batch = next(iter(tf.data.TFRecordDataset(str(tmp_path / name)).batch(100)))
        return {k: v.numpy() for k, v in tf.io.parse_example(batch, spec).items()}

    bulk, proto = read("bulk.tfrecord"), read("proto.tfrecord")
    for key in spec:
        np.testing.assert_array_equal(bulk[key], proto[key])
    np.testing.assert_array_equal(bulk["target"], labels[rows])


def test_only_dense_float_data_with_few_classes_fits() -> None:
    floats = {"x": np.zeros((4, 2), np.float32)}
    assert DenseEncoder.fits(floats, [str(i) for i in range(128)])
    assert not DenseEncoder.fits(floats, [str(i) for i in range(129)])
    assert not DenseEncoder.fits({"x": np.zeros((4, 2), np.int64)}, ["a", "b"])
    assert not DenseEncoder.fits({"s": np.array(["a"] * 4, dtype=object)}, ["a", "b"])
