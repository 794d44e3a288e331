"""The export contract: what a run's export and every published model version hold.

A SavedModel whose ``serving_default`` signature takes the dataset's raw
features (named as in the manifest; encoded images and text as strings, so
preprocessing travels with the model) and returns ``probabilities``, plus, in
``assets.extra/`` (see :class:`dlpipe.layout.ExportPaths`), the warm-up
requests TF Serving replays before a version is AVAILABLE and the lineage
(run, dataset version, shard checksums). Training writes it; evaluation,
publishing, serving and the helm tests read it through this module.
TensorFlow is imported only by the functions that need it.
"""

from __future__ import annotations

import json
from typing import Any

from dlpipe import atomic
from dlpipe.errors import DlpipeError
from dlpipe.failpoints import step
from dlpipe.layout import ExportPaths

SIGNATURE = "serving_default"
OUTPUT = "probabilities"


def write_warmup_requests(paths: ExportPaths, inputs: dict[str, Any], model_name: str) -> None:
    """One PredictRequest holding ``inputs`` (a few real examples), in TF Serving's warm-up file format."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model_name, signature_name=SIGNATURE))
    for name, values in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    paths.warmup.parent.mkdir(parents=True, exist_ok=True)
    step("write", paths.warmup)
    with tf.io.TFRecordWriter(str(paths.warmup)) as writer:
        writer.write(log.SerializeToString())


def read_warmup_inputs(paths: ExportPaths) -> dict[str, Any]:
    """The inputs (numpy arrays) of the export's first warm-up request."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    if not paths.warmup.is_file():
        raise DlpipeError(f"{paths.dir}: no warm-up requests ({paths.warmup.relative_to(paths.dir)})")
    record = next(iter(tf.data.TFRecordDataset(str(paths.warmup))))
    request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
    return {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}


def write_lineage(paths: ExportPaths, lineage: dict[str, Any]) -> None:
    atomic.write_text(paths.lineage, json.dumps(lineage, indent=2, sort_keys=True) + "\n")


def read_lineage(paths: ExportPaths) -> dict[str, Any]:
    try:
        return json.loads(paths.lineage.read_text())
    except FileNotFoundError:
        raise DlpipeError(f"{paths.dir} has no lineage ({paths.lineage.relative_to(paths.dir)})") from None
    except json.JSONDecodeError as exc:
        raise DlpipeError(f"{paths.lineage} is not valid JSON: {exc}") from None


def lineage_run_id(paths: ExportPaths) -> str | None:
    """The run an export or model version came from; None when it has no lineage (not made by dlpipe)."""
    return read_lineage(paths).get("run_id") if paths.lineage.is_file() else None


def load_signature(paths: ExportPaths) -> tuple[Any, Any]:
    """(the loaded SavedModel, its serving signature); keep the first alive while calling the second."""
    import tensorflow as tf

    if not paths.is_complete():
        raise DlpipeError(f"{paths.dir} holds no SavedModel (no {paths.saved_model.name})")
    try:
        loaded = tf.saved_model.load(str(paths.dir))
    except (OSError, ValueError, tf.errors.OpError) as exc:
        raise DlpipeError(f"cannot load the SavedModel at {paths.dir}: {str(exc).splitlines()[0]}") from None
    if SIGNATURE not in loaded.signatures:
        found = ", ".join(loaded.signatures) or "none"
        raise DlpipeError(f"{paths.dir}: no {SIGNATURE} signature (has {found})")
    return loaded, loaded.signatures[SIGNATURE]


def verify_export(paths: ExportPaths) -> str:
    """Check an export as TF Serving will use it: load it, replay its warm-up request. Returns a summary."""
    import tensorflow as tf

    _loaded, signature = load_signature(paths)
    inputs = read_warmup_inputs(paths)
    try:
        outputs = signature(**{name: tf.constant(value) for name, value in inputs.items()})
    except (TypeError, ValueError, tf.errors.OpError) as exc:
        raise DlpipeError(f"{paths.dir}: the warm-up request fails: {exc}") from None
    if OUTPUT not in outputs:
        raise DlpipeError(f"{paths.dir}: {SIGNATURE} returns {sorted(outputs)}, not {OUTPUT}")
    rows, classes = outputs[OUTPUT].shape
    return f"{SIGNATURE}({', '.join(sorted(inputs))}) -> {OUTPUT}[{rows}, {classes}]"
