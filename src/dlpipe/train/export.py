"""The run's export: a SavedModel TF Serving can load, with warm-up requests and lineage.

``serving_default`` takes the dataset's raw features, named as in the manifest
(encoded image bytes and text as strings: preprocessing travels with the
model), and returns ``probabilities``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from dlpipe import atomic
from dlpipe.layout import SAVED_MODEL
from dlpipe.train.data import DTYPES, input_features, model_inputs

SIGNATURE = "serving_default"
WARMUP_FILE = "tf_serving_warmup_requests"
LINEAGE_FILE = "dlpipe-lineage.json"


def input_signature(manifest: dict[str, Any]) -> dict[str, tf.TensorSpec]:
    return {
        name: tf.TensorSpec([None, *spec["shape"]], DTYPES[spec["dtype"]], name=name)
        for name, spec in input_features(manifest).items()
    }


def _warmup_requests(path: Path, sample: dict[str, np.ndarray], model_name: str) -> None:
    """What TF Serving replays before it reports the version ready (no cold first request)."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model_name, signature_name=SIGNATURE))
    for name, values in sample.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(log.SerializeToString())


def write_export(
    model: keras.Model,
    manifest: dict[str, Any],
    final: Path,
    *,
    image_size: int,
    sample: dict[str, np.ndarray],
    lineage: dict[str, Any],
    model_name: str,
    publish: bool = True,
) -> Path:
    """Write the SavedModel into a staging sibling of ``final``; publish it (saved_model.pb last) if ``publish``.

    Non-chief workers of a multi-worker run must save too (saving runs
    collective ops); they pass ``publish=False`` and their copy is deleted.
    """
    signature = input_signature(manifest)

    def serve(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {"probabilities": model(model_inputs(inputs, manifest, image_size), training=False)}

    with atomic.staging_dir(final) as staged:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(name=SIGNATURE, fn=serve, input_signature=[signature])
        saved = staged / "model"
        archive.write_out(str(saved), verbose=False)
        if not publish:
            shutil.rmtree(staged)
            return final
        extra = saved / "assets.extra"
        _warmup_requests(extra / WARMUP_FILE, sample, model_name)
        atomic.write_text(extra / LINEAGE_FILE, json.dumps(lineage, indent=2, sort_keys=True) + "\n")
        atomic.publish_dir(saved, final, last=SAVED_MODEL)
        shutil.rmtree(staged, ignore_errors=True)
    return final


def read_warmup_inputs(export_dir: Path) -> dict[str, np.ndarray]:
    """The inputs of the export's (first) warm-up request, as written by write_export."""
    from tensorflow_serving.apis import prediction_log_pb2

    record = next(iter(tf.data.TFRecordDataset(str(export_dir / "assets.extra" / WARMUP_FILE))))
    request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
    return {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}


def read_lineage(export_dir: Path) -> dict[str, Any]:
    return json.loads((export_dir / "assets.extra" / LINEAGE_FILE).read_text())
