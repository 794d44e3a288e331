"""A tiny SavedModel with every kind of signature TF Serving serves, made in the test session.

Version ``v`` adds ``v`` to its sums, so an answer tells which version gave it:

- ``serving_default``: two inputs, ``x`` (float, [batch, 2]) and ``tag`` (string, [batch]) ->
  ``sum`` = x0 + x1 + v, ``greeting`` = "hello " + tag (a string output), ``tag_bytes`` = tag (bytes: b64 over REST)
- ``single``: ``x`` -> ``doubled`` = 2x (one input, one output)
- ``count``: ``n`` (int32) -> ``next`` = n + 1
- ``classify``: serialized Examples with float feature ``x`` [2] -> ``classes`` ("left", "right"), ``scores`` (softmax)
- ``regress``: serialized Examples -> ``outputs`` = x0 + x1 + v
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from dlpipe.layout import ExportPaths

FEATURES = {"x": tf.io.FixedLenFeature([2], tf.float32)}
_STRINGS = tf.TensorSpec([None], tf.string)
_PAIRS = tf.TensorSpec([None, 2], tf.float32)


class Toy(tf.Module):
    def __init__(self, version: int) -> None:
        super().__init__()
        self.offset = tf.Variable(float(version))

    @tf.function(input_signature=[_PAIRS, _STRINGS])
    def predict(self, x: tf.Tensor, tag: tf.Tensor) -> dict[str, tf.Tensor]:
        greeting = tf.strings.join([tf.constant("hello "), tag])
        return {"sum": tf.reduce_sum(x, axis=1) + self.offset, "greeting": greeting, "tag_bytes": tag}

    @tf.function(input_signature=[_PAIRS])
    def single(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"doubled": x * 2}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
    def count(self, n: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"next": n + 1}

    @tf.function(input_signature=[_STRINGS])
    def classify(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        x = tf.io.parse_example(inputs, FEATURES)["x"]
        classes = tf.tile(tf.constant([["left", "right"]]), [tf.shape(x)[0], 1])
        return {"classes": classes, "scores": tf.nn.softmax(x)}

    @tf.function(input_signature=[_STRINGS])
    def regress(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        x = tf.io.parse_example(inputs, FEATURES)["x"]
        return {"outputs": tf.reduce_sum(x, axis=1) + self.offset}


def save(directory: Path, version: int) -> Path:
    """Version ``version`` of the toy model, written to ``directory`` (which must not exist)."""
    toy = Toy(version)
    signatures = {"serving_default": toy.predict, "single": toy.single, "count": toy.count,
                  "classify": toy.classify, "regress": toy.regress}  # fmt: skip
    tf.saved_model.save(toy, str(directory), signatures=signatures)
    return directory


def write_warmup(version_dir: Path, request: predict_pb2.PredictRequest) -> None:
    """A warm-up file with one recorded predict request, where TF Serving looks for it."""
    path = ExportPaths(version_dir).warmup
    path.parent.mkdir(exist_ok=True)
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(log.SerializeToString())


def predict_request(**inputs: np.ndarray) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="toy"))
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request
