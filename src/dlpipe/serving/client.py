"""``dlpipe predict``: one request to TF Serving (or serve-local) over REST or gRPC."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from dlpipe.errors import DlpipeError


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
    return f"/v1/models/{model}" + (f"/versions/{version}" if version else f"/labels/{label}" if label else "")


def rest_predict(url: str, model: str, instances: list[Any], version: int | None = None, label: str | None = None,
                 timeout: float = 30.0) -> dict[str, Any]:  # fmt: skip
    return _rest(url, _path(model, version, label) + ":predict", {"instances": instances}, timeout)


def rest_metadata(url: str, model: str, version: int | None = None, label: str | None = None,
                  timeout: float = 30.0) -> dict[str, Any]:  # fmt: skip
    """The model's signatures, as TF Serving's ``GET /v1/models/NAME/metadata`` gives them."""
    return _rest(url, _path(model, version, label) + "/metadata", None, timeout)


def grpc_predict(target: str, model: str, instances: list[Any], version: int | None = None, label: str | None = None,
                 timeout: float = 30.0) -> dict[str, Any]:  # fmt: skip
    import grpc
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if version:
        request.model_spec.version.value = version
    elif label:
        request.model_spec.version_label = label
    if instances and isinstance(instances[0], dict):
        columns = {name: [i[name] for i in instances] for name in instances[0]}
    else:
        raise DlpipeError("over gRPC, send instances as objects naming each input")
    for name, values in columns.items():
        array = np.array([v.encode() if isinstance(v, str) else v for v in values])
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    with grpc.insecure_channel(target) as channel:
        try:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise DlpipeError(f"{target}: {exc.code().name}: {exc.details()}") from None
    outputs = {name: tf.make_ndarray(proto).tolist() for name, proto in response.outputs.items()}
    return {
        "predictions": outputs.get("probabilities", outputs),
        "model_version": str(response.model_spec.version.value),
    }
