"""TF Serving's inference requests as protos, run on one servable: the gRPC API's and the warm-up file's.

Tensors travel as :mod:`.tensors` encodes them. Answers carry the ``model_spec`` TF Serving fills in
(``servables/tensorflow/util.cc``, ``MakeModelSpec``): the requested name, the
signature's name (the default's when none was given) and the version that
answered.

Before a version is AVAILABLE, TF Serving replays the requests recorded in its
``assets.extra/tf_serving_warmup_requests`` (at most 1000 ``PredictionLog``
records); one that fails fails the load (``saved_model_warmup_util.cc``).
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf
from google.protobuf import message
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    model_pb2,
    predict_pb2,
    prediction_log_pb2,
    regression_pb2,
)

from dlpipe.layout import ExportPaths
from dlpipe.serving import examples
from dlpipe.serving.servable import DEFAULT_SIGNATURE, Servable, check_classification, check_regression
from dlpipe.serving.status import Code, ServingError, invalid
from dlpipe.serving.tensors import ndarray, tensor_proto

CLASSIFY_METHOD = tf.saved_model.CLASSIFY_METHOD_NAME
REGRESS_METHOD = tf.saved_model.REGRESS_METHOD_NAME
MAX_WARMUP_RECORDS = 1000


def model_spec(name: str, signature_name: str, version: int | None) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=name, signature_name=signature_name or DEFAULT_SIGNATURE)
    if version is not None:
        spec.version.value = version
    return spec


def predict(
    servable: Servable, request: predict_pb2.PredictRequest, version: int | None
) -> predict_pb2.PredictResponse:
    inputs = {alias: ndarray(alias, proto) for alias, proto in request.inputs.items()}
    outputs = servable.predict(request.model_spec.signature_name, inputs, list(request.output_filter))
    response = predict_pb2.PredictResponse(
        model_spec=model_spec(request.model_spec.name, request.model_spec.signature_name, version)
    )
    for alias, value in outputs.items():
        response.outputs[alias].CopyFrom(tensor_proto(value))
    return response


def classify(
    servable: Servable, request: classification_pb2.ClassificationRequest, version: int | None
) -> classification_pb2.ClassificationResponse:
    result = servable.classify(request.model_spec.signature_name, examples.serialized(request.input))
    spec = model_spec(request.model_spec.name, request.model_spec.signature_name, version)
    return classification_pb2.ClassificationResponse(model_spec=spec, result=result)


def regress(
    servable: Servable, request: regression_pb2.RegressionRequest, version: int | None
) -> regression_pb2.RegressionResponse:
    result = servable.regress(request.model_spec.signature_name, examples.serialized(request.input))
    spec = model_spec(request.model_spec.name, request.model_spec.signature_name, version)
    return regression_pb2.RegressionResponse(model_spec=spec, result=result)


def multi_inference(
    servable: Servable, request: inference_pb2.MultiInferenceRequest, version: int | None
) -> inference_pb2.MultiInferenceResponse:
    """Several classify/regress signatures of one model over the same examples (multi_inference.cc)."""
    names, signatures = set(), set()
    for task in request.tasks:
        if not task.model_spec.name:
            raise invalid("Found ModelSpec with an empty model name.")
        names.add(task.model_spec.name)
        if len(names) > 1:
            raise invalid("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
        name = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if name in signatures:
            raise invalid(f"Duplicate evaluation of signature: {name}")
        signatures.add(name)
        signature = servable.signature(name)
        if signature is None:
            raise invalid(f"Requested signature not found in model graph: {name}")
        if task.method_name == CLASSIFY_METHOD:
            check_classification(signature)
        elif task.method_name == REGRESS_METHOD:
            check_regression(signature)
        else:
            raise ServingError(Code.UNIMPLEMENTED, f"Unsupported signature method_name: {task.method_name}")
    serialized = examples.serialized(request.input)
    response = inference_pb2.MultiInferenceResponse()
    for task in request.tasks:
        result = response.results.add()
        if task.method_name == CLASSIFY_METHOD:
            result.classification_result.CopyFrom(servable.classify(task.model_spec.signature_name, serialized))
        else:
            result.regression_result.CopyFrom(servable.regress(task.model_spec.signature_name, serialized))
        result.model_spec.CopyFrom(model_spec(task.model_spec.name, task.model_spec.signature_name, version))
    return response


def warm_up(servable: Servable, version_dir: Path) -> None:
    """Replay the version's recorded requests; raise ServingError (the load fails) at the first that fails."""
    path = ExportPaths(version_dir).warmup  # TF Serving's fixed place for them
    if not path.is_file():
        return
    try:
        records = [record.numpy() for record in tf.data.TFRecordDataset(str(path)).take(MAX_WARMUP_RECORDS + 1)]
    except tf.errors.OpError as exc:
        raise ServingError(Code.DATA_LOSS, f"Failed to read warmup data from {path}: {exc.message}") from None
    if len(records) > MAX_WARMUP_RECORDS:
        raise invalid(f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}")
    replay = {
        "predict_log": lambda log: predict(servable, log.predict_log.request, None),
        "classify_log": lambda log: classify(servable, log.classify_log.request, None),
        "regress_log": lambda log: regress(servable, log.regress_log.request, None),
        "multi_inference_log": lambda log: multi_inference(servable, log.multi_inference_log.request, None),
    }
    for record in records:
        try:
            log = prediction_log_pb2.PredictionLog.FromString(record)
        except message.DecodeError:
            raise ServingError(Code.DATA_LOSS, f"Failed to parse a warmup record at {path}") from None
        kind = log.WhichOneof("log_type")
        if kind in replay:
            replay[kind](log)
        elif kind is not None:
            raise ServingError(Code.UNIMPLEMENTED, f"Unsupported log_type for warmup: {kind}")
