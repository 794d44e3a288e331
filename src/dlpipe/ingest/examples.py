"""Building serialized ``tf.train.Example`` records, one feature type at a time."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf


def dtype_of(array: np.ndarray) -> str:
    """The manifest dtype a numpy array is stored as."""
    if np.issubdtype(array.dtype, np.floating):
        return "float32"
    if np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.bool_):
        return "int64"
    return "string"


def feature(value: Any, dtype: str) -> tf.train.Feature:
    if dtype == "float32":
        return tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(value).astype(np.float32)))
    if dtype == "int64":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=np.ravel(value).astype(np.int64)))
    if isinstance(value, str):
        value = value.encode("utf-8")
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def serialize(values: dict[str, tuple[Any, str]]) -> bytes:
    """``{"x": (array, "float32"), "label": (3, "int64")}`` -> serialized Example."""
    features = {name: feature(value, dtype) for name, (value, dtype) in values.items()}
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()
