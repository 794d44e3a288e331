"""Writing a run's export (the contract is :mod:`dlpipe.export`): the Keras model wrapped in its two signatures.

Both signatures fill a table's empty cells (``records.fill_missing``, through
``model_inputs``) with the statistics of the manifest the run trained on, so
a served model imputes exactly as training did; the lineage repeats them for
people to read.
"""

from __future__ import annotations

import shutil
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from dlpipe import atomic
from dlpipe.export import (
    CLASS_IDS,
    CLASSES,
    CLASSIFY_INPUTS,
    CLASSIFY_METHOD,
    CLASSIFY_OUTPUTS,
    CLASSIFY_SIGNATURE,
    PROBABILITIES,
    SCORES,
    SIGNATURE,
    top_k,
    write_lineage,
    write_warmup_requests,
)
from dlpipe.failpoints import step
from dlpipe.layout import SAVED_MODEL, ExportPaths
from dlpipe.records import filled_features, hole, input_features, tf_dtype
from dlpipe.train.data import model_inputs


def input_signature(manifest: dict[str, Any]) -> dict[str, tf.TensorSpec]:
    return {
        name: tf.TensorSpec([None, *spec["shape"]], tf_dtype(spec["dtype"]), name=name)
        for name, spec in input_features(manifest).items()
    }


def example_spec(manifest: dict[str, Any]) -> dict[str, tf.io.FixedLenFeature]:
    """How the classification signature parses a ``tf.train.Example``: a feature that may be empty may be absent."""
    filled = filled_features(manifest)
    return {
        name: tf.io.FixedLenFeature(
            spec["shape"], tf_dtype(spec["dtype"]), default_value=hole(spec["dtype"]) if name in filled else None
        )
        for name, spec in input_features(manifest).items()
    }


def answers(probabilities: tf.Tensor, classes: list[str]) -> dict[str, tf.Tensor]:
    """Probabilities -> every output of ``serving_default``: also the top k class names, ids and scores, best first."""
    scores, ids = tf.math.top_k(probabilities, k=top_k(len(classes)))
    return {
        PROBABILITIES: probabilities,
        CLASSES: tf.gather(tf.constant(classes), ids),
        CLASS_IDS: tf.cast(ids, tf.int64),
        SCORES: scores,
    }


def _mark_classify(saved: ExportPaths) -> None:
    """Give the classification signature the method TF Serving's Classify API wants.

    TF 2 saves every signature as a Predict one (``tf.saved_model.save`` has no
    way to say otherwise, tensorflow/tensorflow#38081), and TF Serving refuses
    to classify with a signature whose method is not ``tensorflow/serving/classify``.
    """
    model = saved_model_pb2.SavedModel.FromString(saved.saved_model.read_bytes())
    for graph in model.meta_graphs:
        graph.signature_def[CLASSIFY_SIGNATURE].method_name = CLASSIFY_METHOD
    step("write", saved.saved_model)
    saved.saved_model.write_bytes(model.SerializeToString())


def write_export(
    model: keras.Model,
    manifest: dict[str, Any],
    final: ExportPaths,
    *,
    image_size: int,
    sample: dict[str, np.ndarray],
    lineage: dict[str, Any],
    model_name: str,
    publish: bool = True,
) -> ExportPaths:
    """Write the SavedModel into a staging sibling of ``final``; publish it with one rename if ``publish``.

    Non-chief workers of a multi-worker run must save too (saving runs
    collective ops); they pass ``publish=False`` and their copy is deleted.
    """
    classes = manifest["label"]["classes"]
    spec = example_spec(manifest)

    def serve(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return answers(model(model_inputs(inputs, manifest, image_size), training=False), classes)

    def classify(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = serve(tf.io.parse_example(inputs, spec))
        return {name: outputs[name] for name in CLASSIFY_OUTPUTS}

    with atomic.staging_dir(final.dir) as staged:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(name=SIGNATURE, fn=serve, input_signature=[input_signature(manifest)])
        examples = tf.TensorSpec([None], tf.string, name=CLASSIFY_INPUTS)
        archive.add_endpoint(name=CLASSIFY_SIGNATURE, fn=classify, input_signature=[examples])
        saved = ExportPaths(staged / "model")
        archive.write_out(str(saved.dir), verbose=False)
        if not publish:
            shutil.rmtree(staged)
            return final
        _mark_classify(saved)
        write_warmup_requests(saved, sample, model_name)
        write_lineage(saved, {**lineage, "missing": manifest["missing"]} if "missing" in manifest else lineage)
        atomic.publish_dir(saved.dir, final.dir, marker=SAVED_MODEL)
        shutil.rmtree(staged, ignore_errors=True)
    return final
