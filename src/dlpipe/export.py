"""The export contract: what a run's export and every published model version hold.

A SavedModel with two signatures, named and shaped as TF Estimator
classifiers exported them, so TF Serving's Predict and Classify APIs both work:

``serving_default`` (Predict)
    takes the dataset's raw features, named as in the manifest (encoded images
    and text as strings, so preprocessing travels with the model; a table's
    cells may be empty: NaN for numbers, ``""`` for categories, filled as in
    training) and returns ``probabilities`` [batch, classes] and the top
    k = min(5, classes) predictions, best first: ``classes`` (the class names,
    strings), ``class_ids`` (int64) and ``scores`` (their probabilities).
``classification`` (method ``tensorflow/serving/classify``)
    takes ``inputs``, serialized ``tf.train.Example`` protos holding the same
    features (a table's features may be left out: they count as empty), and
    returns the same ``classes`` and ``scores``.

Plus, in ``assets.extra/`` (see :class:`dlpipe.layout.ExportPaths`), the
warm-up requests TF Serving replays before a version is AVAILABLE and the
lineage (run, dataset version, shard checksums). Training writes it;
evaluation, publishing, serving and the helm tests read it through this
module. TensorFlow is imported only by the functions that need it.
"""

from __future__ import annotations

import json
from typing import Any

from dlpipe import atomic
from dlpipe.errors import DlpipeError
from dlpipe.failpoints import step
from dlpipe.layout import ExportPaths

SIGNATURE = "serving_default"  # tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
CLASSIFY_SIGNATURE = "classification"  # the key Estimator classifiers used
CLASSIFY_METHOD = "tensorflow/serving/classify"  # tf.saved_model.CLASSIFY_METHOD_NAME: what TF Serving's Classify wants
CLASSIFY_INPUTS = "inputs"  # tf.saved_model.CLASSIFY_INPUTS
PROBABILITIES = "probabilities"
CLASSES = "classes"  # tf.saved_model.CLASSIFY_OUTPUT_CLASSES
CLASS_IDS = "class_ids"
SCORES = "scores"  # tf.saved_model.CLASSIFY_OUTPUT_SCORES
TOP_K = 5  # predictions per example in classes, class_ids and scores (fewer when there are fewer classes)
# Each output of serving_default: (dtype, its second dimension: "classes" or "top").
OUTPUTS = {PROBABILITIES: ("float32", "classes"), CLASSES: ("string", "top"), CLASS_IDS: ("int64", "top"),
           SCORES: ("float32", "top")}  # fmt: skip
CLASSIFY_OUTPUTS = (CLASSES, SCORES)
REEXPORT = "export it again with this version of dlpipe: dlpipe train"


def top_k(classes: int) -> int:
    """How many predictions ``classes``, ``class_ids`` and ``scores`` hold per example."""
    return min(TOP_K, classes)


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


def method_names(paths: ExportPaths) -> dict[str, str]:
    """Each signature's method name, as TF Serving reads it from ``saved_model.pb``."""
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel.FromString(paths.saved_model.read_bytes())
    return {name: sig.method_name for graph in model.meta_graphs for name, sig in graph.signature_def.items()}


def _check_outputs(
    paths: ExportPaths, name: str, outputs: dict[str, Any], wanted: tuple[str, ...], rows: int, classes: int
) -> None:
    """Every output of ``wanted`` is there, with its dtype and shape: [rows, classes] or [rows, top k]."""
    missing = [output for output in wanted if output not in outputs]
    if missing:
        raise DlpipeError(f"{paths.dir}: {name} returns {sorted(outputs)}, not {', '.join(missing)}", REEXPORT)
    for output in wanted:
        dtype, width = OUTPUTS[output]
        expected = [rows, classes if width == "classes" else top_k(classes)]
        value = outputs[output]
        if value.dtype.name != dtype or list(value.shape) != expected:
            raise DlpipeError(f"{paths.dir}: {name} output {output} is {value.dtype.name} {list(value.shape)}, "
                              f"not {dtype} {expected}", REEXPORT)  # fmt: skip


def _replay(paths: ExportPaths, name: str, signature: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    import tensorflow as tf

    try:
        return signature(**inputs)
    except (TypeError, ValueError, tf.errors.OpError) as exc:
        raise DlpipeError(f"{paths.dir}: the warm-up request fails on {name}: {str(exc).splitlines()[0]}") from None


def verify_export(paths: ExportPaths) -> str:
    """Check an export as TF Serving will use it: load it, replay its warm-up request through both signatures.

    Returns a summary. The classification signature must be marked for TF
    Serving's Classify API and agree with ``serving_default``.
    """
    import tensorflow as tf

    from dlpipe.records import serialize

    loaded, signature = load_signature(paths)
    inputs = read_warmup_inputs(paths)
    rows = len(next(iter(inputs.values())))
    outputs = _replay(paths, SIGNATURE, signature, {name: tf.constant(value) for name, value in inputs.items()})
    if PROBABILITIES not in outputs:
        raise DlpipeError(f"{paths.dir}: {SIGNATURE} returns {sorted(outputs)}, not {PROBABILITIES}", REEXPORT)
    classes = outputs[PROBABILITIES].shape[1]
    _check_outputs(paths, SIGNATURE, outputs, tuple(OUTPUTS), rows, classes)
    method = method_names(paths).get(CLASSIFY_SIGNATURE)
    if method is None:
        raise DlpipeError(f"{paths.dir}: no {CLASSIFY_SIGNATURE} signature (TF Serving's Classify API)", REEXPORT)
    if method != CLASSIFY_METHOD:
        raise DlpipeError(f"{paths.dir}: {CLASSIFY_SIGNATURE} signature method is {method}, not {CLASSIFY_METHOD} "
                          "(TF Serving's Classify API needs it)", REEXPORT)  # fmt: skip
    dtypes = {name: spec.dtype.name for name, spec in signature.structured_input_signature[1].items()}
    examples = [serialize({name: (value[i], dtypes[name]) for name, value in inputs.items()}) for i in range(rows)]
    classify = loaded.signatures[CLASSIFY_SIGNATURE]
    classified = _replay(paths, CLASSIFY_SIGNATURE, classify, {CLASSIFY_INPUTS: tf.constant(examples)})
    _check_outputs(paths, CLASSIFY_SIGNATURE, classified, CLASSIFY_OUTPUTS, rows, classes)
    if not (classified[CLASSES].numpy() == outputs[CLASSES].numpy()).all():
        raise DlpipeError(f"{paths.dir}: {CLASSIFY_SIGNATURE} and {SIGNATURE} disagree on the warm-up examples")
    best = outputs[CLASSES].numpy()[0, 0].decode("utf-8", "replace")
    return (f"{SIGNATURE}({', '.join(sorted(inputs))}) -> {PROBABILITIES}[{rows}, {classes}], top {top_k(classes)} "
            f"{CLASSES}/{CLASS_IDS}/{SCORES} (first: {best}); {CLASSIFY_SIGNATURE} agrees")  # fmt: skip
