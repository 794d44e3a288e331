"""Which code should frame the dense path's TFRecords? Each candidate frames the same
rows, in the same run, as microseconds per row (lower is better):

- ``dense.py, whole encode``: what ``dlpipe.ingest.dense`` does, building the
  Examples included: rows laid out by numpy in one buffer, then one call per record
  into the ``crc32c`` package (hardware CRC32C) for the data checksum.
- ``TF writer, one call``: TensorFlow's own TFRecord writer fed every record in one
  call (``tf.data.experimental.TFRecordWriter`` over a string tensor cut from the
  same buffer).
- ``TF writer per record``: ``tf.io.TFRecordWriter.write`` once per record.
- ``numpy CRC32C``: the CRC of every record at once, a byte column at a time with
  lookup tables (no maintained package offers a batched CRC32C: ``crc32c``,
  ``google-crc32c`` and ``awscrt`` take one buffer per call).

Fewer, larger records (one per batch of rows) would drop the per-record call, but
would change the record format every reader, TF Serving's warm-up requests and
users' own tools rely on (one ``tf.train.Example`` per example), so it is not measured.

    .venv/bin/python bench/framing.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf
from generated import FEATURES

from dlpipe.ingest.dense import DenseEncoder

CASTAGNOLI = 0x82F63B78  # CRC32C's reversed polynomial


def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ CASTAGNOLI, table >> 1).astype(np.uint32)
    return table


def numpy_crc32c(rows: np.ndarray) -> np.ndarray:
    """CRC32C of each row of a uint8 matrix, all rows at once."""
    table, crc = _crc_table(), np.full(len(rows), 0xFFFFFFFF, np.uint32)
    for column in rows.T:
        crc = table[(crc ^ column) & 0xFF] ^ (crc >> 8)
    return crc ^ np.uint32(0xFFFFFFFF)


def per_row(rows: int, work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return (time.perf_counter() - began) / rows * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(args.rows, FEATURES)).astype(np.float32), rng.integers(0, 10, args.rows)
    encoder = DenseEncoder({"x": x}, "y", y)
    order = rng.permutation(args.rows)
    framed = encoder.encode(order)  # what the candidates must reproduce, byte for byte
    size = len(encoder.template)
    bodies = np.ascontiguousarray(framed[:, 12 : 12 + size])
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        out = Path(tmp)

        def tf_one_call() -> None:
            blob = tf.constant(bodies.tobytes())
            starts = tf.range(args.rows, dtype=tf.int32) * size
            records = tf.strings.substr(blob, starts, tf.fill([args.rows], size))
            tf.data.experimental.TFRecordWriter(str(out / "one-call.tfrecord")).write(
                tf.data.Dataset.from_tensor_slices(records)
            )

        def tf_per_record() -> None:
            with tf.io.TFRecordWriter(str(out / "per-record.tfrecord")) as writer:
                for body in bodies:
                    writer.write(body.tobytes())

        figures = {
            "dense.py, whole encode": per_row(args.rows, lambda: encoder.encode(order)),
            "TF writer, one call": per_row(args.rows, tf_one_call),
            "TF writer per record": per_row(args.rows, tf_per_record),
            "numpy CRC32C": per_row(args.rows, lambda: numpy_crc32c(bodies)),
        }
        for name in ("one-call", "per-record"):
            assert (out / f"{name}.tfrecord").read_bytes() == framed.tobytes(), name
    crcs = framed[:, -4:].copy().view("<u4").ravel()
    unmasked = ((crcs - np.uint32(0xA282EAD8)) << 15) | ((crcs - np.uint32(0xA282EAD8)) >> 17)
    assert np.array_equal(numpy_crc32c(bodies[:1000]), unmasked[:1000])
    print(f"framing {args.rows} rows of {FEATURES} float32 + a label ({size} bytes an Example), us per row:")
    for name, value in figures.items():
        print(f"  {name:30} {value:6.2f}")


if __name__ == "__main__":
    main()
