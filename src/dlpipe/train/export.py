"""Writing a run's export (the contract is :mod:`dlpipe.export`): the Keras model wrapped in a serving signature."""

from __future__ import annotations

import shutil
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from dlpipe import atomic
from dlpipe.export import OUTPUT, SIGNATURE, write_lineage, write_warmup_requests
from dlpipe.layout import SAVED_MODEL, ExportPaths
from dlpipe.records import input_features, tf_dtype
from dlpipe.train.data import model_inputs


def input_signature(manifest: dict[str, Any]) -> dict[str, tf.TensorSpec]:
    return {
        name: tf.TensorSpec([None, *spec["shape"]], tf_dtype(spec["dtype"]), name=name)
        for name, spec in input_features(manifest).items()
    }


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
    """Write the SavedModel into a staging sibling of ``final``; publish it (saved_model.pb last) if ``publish``.

    Non-chief workers of a multi-worker run must save too (saving runs
    collective ops); they pass ``publish=False`` and their copy is deleted.
    """
    signature = input_signature(manifest)

    def serve(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {OUTPUT: model(model_inputs(inputs, manifest, image_size), training=False)}

    with atomic.staging_dir(final.dir) as staged:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(name=SIGNATURE, fn=serve, input_signature=[signature])
        saved = ExportPaths(staged / "model")
        archive.write_out(str(saved.dir), verbose=False)
        if not publish:
            shutil.rmtree(staged)
            return final
        write_warmup_requests(saved, sample, model_name)
        write_lineage(saved, lineage)
        atomic.publish_dir(saved.dir, final.dir, marker=SAVED_MODEL)
        shutil.rmtree(staged, ignore_errors=True)
    return final
