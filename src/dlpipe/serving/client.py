"""``dlpipe predict``: one predict request to TF Serving (or serve-local), over REST or gRPC, answered alike.

Both return ``{"predictions": rows, "model_version": "N"}``, the rows as REST's
row format gives them. TF Serving's REST answer does not say which version
answered, so the REST client first asks the model's metadata which version its
request (newest, a label or a number) resolves to, then asks that version. The
gRPC client asks the metadata for the signature's input types, builds the
tensors from the JSON instances exactly as the REST server does
(``{"b64": ...}`` becomes bytes: :func:`dlpipe.serving.tensors.instances_to_arrays`),
and takes the version from the answer's ``model_spec``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from dlpipe.errors import DlpipeError
from dlpipe.export import PROBABILITIES


def _rest(url: str, path: str, body: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(
        url.rstrip("/") + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise DlpipeError(f"{url}: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DlpipeError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None


def _path(model: str, version: int | None, label: str | None) -> str:
    path = "/v1/models/" + urllib.parse.quote(model, safe="")
    if version is not None:
        return f"{path}/versions/{version}"
    return f"{path}/labels/{urllib.parse.quote(label, safe='')}" if label else path


def rest_predict(url: str, model: str, instances: list[Any], version: int | None = None, label: str | None = None,
                 timeout: float = 30.0) -> dict[str, Any]:  # fmt: skip
    if version is None:
        metadata = _rest(url, _path(model, None, label) + "/metadata", None, timeout)
        version = int(metadata["model_spec"]["version"])
    answer = _rest(url, _path(model, version, None) + ":predict", {"instances": instances}, timeout)
    return {"predictions": answer["predictions"], "model_version": str(version)}


def rest_metadata(url: str, model: str, version: int | None = None, label: str | None = None,
                  timeout: float = 30.0) -> dict[str, Any]:  # fmt: skip
    """The model's signatures, as TF Serving's ``GET /v1/models/NAME/metadata`` gives them."""
    return _rest(url, _path(model, version, label) + "/metadata", None, timeout)


def probabilities(predictions: list[Any]) -> list[list[float]]:
    """Each row's class probabilities: the row itself from a one-output model, else its ``probabilities``."""
    return [row[PROBABILITIES] if isinstance(row, dict) else row for row in predictions]


def _model_spec(model: str, version: int | None, label: str | None) -> Any:
    from tensorflow_serving.apis import model_pb2

    spec = model_pb2.ModelSpec(name=model)
    if version is not None:
        spec.version.value = version
    elif label:
        spec.version_label = label
    return spec


def _signature(stub: Any, spec: Any, target: str, timeout: float) -> Any:
    """The model's serving_default SignatureDef, from GetModelMetadata."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    from dlpipe.serving.servable import DEFAULT_SIGNATURE, SIGNATURE_DEF

    request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec, metadata_field=[SIGNATURE_DEF])
    signatures = get_model_metadata_pb2.SignatureDefMap()
    stub.GetModelMetadata(request, timeout=timeout).metadata[SIGNATURE_DEF].Unpack(signatures)
    if DEFAULT_SIGNATURE not in signatures.signature_def:
        raise DlpipeError(f"{target}: model {spec.name} has no {DEFAULT_SIGNATURE} signature")
    return signatures.signature_def[DEFAULT_SIGNATURE]


def _channel(target: str) -> Any:
    import grpc

    # An answer may be as large as TF Serving sends (gRPC clients accept 4 MiB by default).
    return grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", -1)])


def grpc_input_types(target: str, model: str, version: int | None = None, label: str | None = None,
                     timeout: float = 30.0) -> dict[str, str]:  # fmt: skip
    """The serving_default inputs and their dtypes (``DT_STRING``), as REST's metadata names them."""
    import grpc
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with _channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            signature = _signature(stub, _model_spec(model, version, label), target, timeout)
        except grpc.RpcError as exc:
            raise DlpipeError(f"{target}: {exc.code().name}: {exc.details()}") from None
    return {alias: types_pb2.DataType.Name(info.dtype) for alias, info in signature.inputs.items()}


def grpc_predict(target: str, model: str, instances: list[Any], version: int | None = None, label: str | None = None,
                 timeout: float = 30.0) -> dict[str, Any]:  # fmt: skip
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from dlpipe.serving import tensors
    from dlpipe.serving.status import ServingError

    if not instances:
        raise DlpipeError("no instances to send")
    spec = _model_spec(model, version, label)
    with _channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            signature = _signature(stub, spec, target, timeout)
            inputs = {alias: info.dtype for alias, info in signature.inputs.items()}
            predict = predict_pb2.PredictRequest(model_spec=spec)
            for name, value in tensors.instances_to_arrays(instances, inputs).items():
                predict.inputs[name].CopyFrom(tensors.tensor_proto(value))
            response = stub.Predict(predict, timeout=timeout)
        except grpc.RpcError as exc:
            raise DlpipeError(f"{target}: {exc.code().name}: {exc.details()}") from None
        except ServingError as exc:
            raise DlpipeError(f"the instances do not fit {model}'s inputs: {exc.message}") from None
    outputs = {name: tensors.ndarray(name, proto) for name, proto in response.outputs.items()}
    return {"predictions": tensors.predictions(outputs), "model_version": str(response.model_spec.version.value)}
