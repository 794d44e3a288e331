"""serve-local answers as TensorFlow Serving answers: one row per behaviour, over real HTTP and the official gRPC stubs.

Each row's expected answer is taken from TF Serving's documentation or source
(``tensorflow/serving``, the 2.21 line), cited in the row. The server serves
versions 1-3 of the toy model (tests/serving/toy.py: version v adds v to its
sums, so x = [0.5, 1.25] sums to v + 1.75) with the labels stable -> 1 and
canary -> 2.
"""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from dlpipe.layout import Layout
from dlpipe.serving import modelconfig, rest, rpc
from dlpipe.serving.core import ServingCore
from dlpipe.serving.local import LocalServer
from dlpipe.serving.repository import Retries
from tests.serving.conftest import place

TFS = "tensorflow_serving/"
REST_DOC = TFS + "g3doc/api_rest.md"
UTIL = TFS + "model_servers/http_rest_api_util.cc"
HANDLER = TFS + "model_servers/http_rest_api_handler.cc"
HTTP_SERVER = TFS + "model_servers/http_server.cc"
JSON_TENSOR = TFS + "util/json_tensor.cc"
STATUS = TFS + "model_servers/get_model_status_impl.cc"
CORE = TFS + "model_servers/server_core.cc"
MANAGER = TFS + "core/basic_manager.cc (ServingMap::GetUntypedServableHandle), core/manager.h (DebugString)"
METADATA = TFS + "servables/tensorflow/get_model_metadata_impl.cc"
PREDICT = TFS + "servables/tensorflow/predict_util.cc"
UTIL_CC = TFS + "servables/tensorflow/util.cc (MakeModelSpec, InputToSerializedExampleTensor)"
CLASSIFIER = TFS + "servables/tensorflow/classifier.cc"
REGRESSOR = TFS + "servables/tensorflow/regressor.cc"
MULTI = TFS + "servables/tensorflow/multi_inference.cc, multi_inference_helper.cc"
SERVER = TFS + "model_servers/server.cc"
INPUTS = "tensorflow/cc/saved_model/util.cc (GetInputValues); TF's session: 'Expects arg[i] to be <type>'"

X, TAG = [0.5, 1.25], "a"


def _version_status(version: int) -> dict[str, Any]:
    return {"version": str(version), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}


ALL_STATUS = {"model_version_status": [_version_status(3), _version_status(2), _version_status(1)]}


def _prediction(version: int, tag: str = TAG) -> dict[str, Any]:
    tag_b64 = base64.b64encode(tag.encode()).decode()
    return {"sum": version + 1.75, "greeting": f"hello {tag}", "tag_bytes": {"b64": tag_b64}}


ROW = {"instances": [{"x": X, "tag": TAG}]}


@dataclass(frozen=True)
class Error:
    """The answer is exactly ``{"error": message}``, the message containing this text."""

    text: str


@dataclass(frozen=True)
class Rest:
    name: str
    method: str
    path: str
    body: Any  # a dict is sent as JSON, bytes as they are, None as no body
    status: int
    expect: Any  # a dict (the JSON answer), an Error, a predicate on the JSON answer, or bytes (the raw body)
    source: str
    headers: tuple[tuple[str, str], ...] = ()


REST = [
    # -- paths ----------------------------------------------------------------------------------------------------
    Rest("status", "GET", "/v1/models/toy", None, 200, ALL_STATUS, REST_DOC + " (Model status API); " + STATUS),
    Rest("status of one version", "GET", "/v1/models/toy/versions/2", None, 200,
         {"model_version_status": [_version_status(2)]}, STATUS),
    Rest("status of a version never seen: 404", "GET", "/v1/models/toy/versions/9", None, 404,
         Error("Could not find version 9 of model toy"), STATUS),
    Rest("status of an unknown model: 404", "GET", "/v1/models/nope", None, 404,
         Error("Could not find any versions of model nope"), STATUS),
    Rest("status by label ignores the label", "GET", "/v1/models/toy/labels/nope", None, 200, ALL_STATUS,
         STATUS + " (only model_spec.has_version() narrows the answer)"),
    Rest("no model name: 400", "GET", "/v1/models", None, 400, Error("Missing model name in request."), HANDLER),
    Rest("trailing slash: malformed", "GET", "/v1/models/", None, 400,
         Error("Malformed request: GET /v1/models/"), UTIL + " (kModelStatusApiRegex); " + HANDLER),
    Rest("non-numeric version: malformed", "GET", "/v1/models/toy/versions/abc", None, 400,
         Error("Malformed request: GET /v1/models/toy/versions/abc"), UTIL + " (kModelStatusApiRegex: \\d+)"),
    Rest("version beyond int64: 400", "GET", "/v1/models/toy/versions/99999999999999999999", None, 400,
         Error("Failed to convert version: 99999999999999999999 to numeric."), UTIL + " (ParseModelInfo)"),
    Rest("GET on :predict: malformed", "GET", "/v1/models/toy:predict", None, 400,
         Error("Malformed request: GET /v1/models/toy:predict"), UTIL + "; " + HANDLER),
    Rest("POST without a method: malformed", "POST", "/v1/models/toy", ROW, 400,
         Error("Malformed request: POST /v1/models/toy"), UTIL + " (kPredictionApiGegex)"),
    Rest("POST to an unknown method: malformed", "POST", "/v1/models/toy:explain", ROW, 400,
         Error("Malformed request: POST /v1/models/toy:explain"), UTIL + " (kPredictionApiGegex)"),
    Rest("PUT: malformed", "PUT", "/v1/models/toy:predict", ROW, 400,
         Error("Malformed request: PUT /v1/models/toy:predict"), HANDLER + " (only GET and POST dispatch)"),
    Rest("paths outside /v1/ get the server's 404 page", "GET", "/v2/models/toy", None, 404, rest.NOT_FOUND_PAGE,
         HTTP_SERVER + " (RestApiRequestDispatcher::Dispatch -> nullptr); libevent's evhttp_send_error page"),
    Rest("paths match case-insensitively", "GET", "/V1/MODELS/toy/VERSIONS/2", None, 200,
         {"model_version_status": [_version_status(2)]}, UTIL + " ((?i) in kModelStatusApiRegex)"),
    Rest("but :PREDICT is then no method", "POST", "/v1/models/toy:PREDICT", ROW, 400,
         Error("Malformed request: POST /v1/models/toy:PREDICT"), HANDLER + " (*method == \"predict\")"),
    Rest("and /METADATA asks for the status", "GET", "/v1/models/toy/METADATA", None, 200, ALL_STATUS,
         HANDLER + " (model_subresource == \"metadata\")"),
    Rest("the query string is part of the name", "GET", "/v1/models/toy?verbose=1", None, 404,
         Error("Could not find any versions of model toy?verbose=1"), "util/net_http/server/internal/"
         "evhttp_request.cc (uri_path() is path_and_query)"),
    Rest("names are percent-decoded", "GET", "/v1/models/t%6Fy/versions/1", None, 200,
         {"model_version_status": [_version_status(1)]}, UTIL + " (DecodeArg)"),
    Rest("CORS preflight with an Origin", "OPTIONS", "/v1/models/toy:predict", None, 200, b"", HTTP_SERVER,
         (("Origin", "http://example.com"),)),
    Rest("CORS preflight without one", "OPTIONS", "/v1/models/toy:predict", None, 400, b"", HTTP_SERVER),
    # -- metadata -------------------------------------------------------------------------------------------------
    Rest("metadata of the newest version", "GET", "/v1/models/toy/metadata", None, 200,
         lambda a: a["model_spec"] == {"name": "toy", "signature_name": "", "version": "3"}
         and set(a["metadata"]["signature_def"]["signature_def"]) == {"serving_default", "single", "count",
                                                                     "classify", "regress", "__saved_model_init_op"}
         and a["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]["x"]["dtype"] == "DT_FLOAT",
         REST_DOC + " (Model Metadata API); " + UTIL + " (ToJsonString); " + METADATA),
    Rest("metadata of a version", "GET", "/v1/models/toy/versions/1/metadata", None, 200,
         lambda a: a["model_spec"]["version"] == "1", METADATA),
    Rest("metadata by label", "GET", "/v1/models/toy/labels/canary/metadata", None, 200,
         lambda a: a["model_spec"]["version"] == "2", CORE + " (ServableRequestFromModelSpec)"),
    Rest("metadata by an unknown label: 400", "GET", "/v1/models/toy/labels/nope/metadata", None, 400,
         Error("Unrecognized servable version label: nope"), CORE + " (GetModelVersionForLabel)"),
    # -- predict: addressing --------------------------------------------------------------------------------------
    Rest("rows in, rows out; no model_version key", "POST", "/v1/models/toy:predict", ROW, 200,
         {"predictions": [_prediction(3)]}, REST_DOC + " (Predict API, Response format); " + JSON_TENSOR),
    Rest("a version", "POST", "/v1/models/toy/versions/1:predict", ROW, 200, {"predictions": [_prediction(1)]},
         REST_DOC + " (Predict API, URL)"),
    Rest("a label", "POST", "/v1/models/toy/labels/stable:predict", ROW, 200, {"predictions": [_prediction(1)]},
         TFS + "g3doc/serving_config.md (REST Usage of labels)"),
    Rest("an unknown label: 400", "POST", "/v1/models/toy/labels/latest:predict", ROW, 400,
         Error("Unrecognized servable version label: latest"), CORE + " (GetModelVersionForLabel)"),
    Rest("a version not loaded: 404", "POST", "/v1/models/toy/versions/9:predict", ROW, 404,
         Error("Servable not found for request: Specific(toy, 9)"), MANAGER),
    Rest("an unknown model: 404", "POST", "/v1/models/nope:predict", ROW, 404,
         Error("Servable not found for request: Latest(nope)"), REST_DOC + " (Example: Latest(half)); " + MANAGER),
    Rest("a bad body is 400 before the model is looked up", "POST", "/v1/models/nope:predict", b"{", 400,
         Error("JSON Parse error"), JSON_TENSOR + " (FillPredictRequestFromJson parses first)"),
    # -- predict: bodies ------------------------------------------------------------------------------------------
    Rest("columns in, columns out; extra keys ignored", "POST", "/v1/models/toy:predict",
         {"inputs": {"x": [X], "tag": [TAG], "unused": 1}}, 200,
         {"outputs": {name: [value] for name, value in _prediction(3).items()}},
         JSON_TENSOR + " (FillTensorMapFromInputsMap looks up each input only)"),
    Rest("one input, plain rows; one output, plain values", "POST", "/v1/models/toy:predict",
         {"signature_name": "single", "instances": [[0.05, 1]]}, 200, {"predictions": [[0.1, 2.0]]},
         REST_DOC + " (row format); " + JSON_TENSOR + " (WriteDecimal: 0.1f is written 0.1)"),
    Rest("floats that need 9 digits get them", "POST", "/v1/models/toy:predict",
         {"signature_name": "single", "inputs": [[0.16666667, 1e-8]]}, 200, {"outputs": [[0.333333343, 2e-08]]},
         JSON_TENSOR + " (WriteDecimal: %g, else max_digits10)"),
    Rest("a body that is no object: 400", "POST", "/v1/models/toy:predict", b"5", 400,
         Error("JSON Value: 5 Is not object"), JSON_TENSOR + " (ParseJson)"),
    Rest("null: 400", "POST", "/v1/models/toy:predict", b"null", 400, Error("Is not object"), JSON_TENSOR),
    Rest("a string: 400", "POST", "/v1/models/toy:predict", b'"x"', 400, Error("Is not object"), JSON_TENSOR),
    Rest("an empty body: 400", "POST", "/v1/models/toy:predict", b"", 400,
         Error("JSON Parse error: The document is empty"), JSON_TENSOR + " (ParseJson)"),
    Rest("bytes that are not UTF-8 outside strings: 400", "POST", "/v1/models/toy:predict", b"\xff\xfe{}", 400,
         Error("JSON Parse error"), JSON_TENSOR + " (ParseJson)"),
    Rest("bytes that are not UTF-8 inside a string are bytes", "POST", "/v1/models/toy:predict",
         b'{"instances": [{"x": [0.5, 1.25], "tag": "\xff"}]}', 200,
         lambda a: a["predictions"][0]["tag_bytes"] == {"b64": "/w=="},
         JSON_TENSOR + " (no kParseValidateEncodingFlag)"),
    Rest("text after the object is ignored", "POST", "/v1/models/toy:predict", json.dumps(ROW).encode() + b" trailing",
         200, {"predictions": [_prediction(3)]}, JSON_TENSOR + " (kParseStopWhenDoneFlag)"),
    Rest("NaN is a number", "POST", "/v1/models/toy:predict",
         b'{"signature_name": "single", "instances": [[NaN, 1]]}', 200,
         lambda a: np.isnan(a["predictions"][0][0]), JSON_TENSOR + " (kParseNanAndInfFlag)"),
    Rest("a number beyond a double: 400", "POST", "/v1/models/toy:predict",
         b'{"signature_name": "single", "instances": [[1e400, 1]]}', 400, Error("Number too big"),
         JSON_TENSOR + " (rapidjson: kParseErrorNumberTooBig)"),
    Rest("both instances and inputs: 400", "POST", "/v1/models/toy:predict", {**ROW, "inputs": {}}, 400,
         Error("expecting only one of 'inputs' or 'instances' keys to exist"), JSON_TENSOR),
    Rest("neither: 400", "POST", "/v1/models/toy:predict", {"x": 1}, 400,
         Error("Missing 'inputs' or 'instances' key"), JSON_TENSOR),
    Rest("no instances: 400", "POST", "/v1/models/toy:predict", {"instances": []}, 400,
         Error("No values in 'instances' array"), JSON_TENSOR),
    Rest("an unknown signature_name: 400", "POST", "/v1/models/toy:predict", {**ROW, "signature_name": "nope"}, 400,
         Error('Serving signature name: "nope" not found in signature def'), HANDLER + " (GetInfoMap)"),
    Rest("a signature_name that is no string: 400", "POST", "/v1/models/toy:predict", {**ROW, "signature_name": 1},
         400, Error("'signature_name' key must be a string value."), JSON_TENSOR + " (FillSignature)"),
    Rest("an extra key in a row: 400", "POST", "/v1/models/toy:predict",
         {"instances": [{"x": X, "tag": TAG, "z": 1}]}, 400,
         Error("JSON object: does not have named input: z"), JSON_TENSOR + " (AddInstanceItem)"),
    Rest("a missing key in a row: 400", "POST", "/v1/models/toy:predict", {"instances": [{"x": X}]}, 400,
         Error("keys must be equal to: tag,x"), JSON_TENSOR + " (FillTensorMapFromInstancesList)"),
    Rest("a missing input in columns: 400", "POST", "/v1/models/toy:predict", {"inputs": {"x": [X]}}, 400,
         Error("Missing named input: tag in 'inputs' object."), JSON_TENSOR),
    Rest("plain rows for two inputs: 400", "POST", "/v1/models/toy:predict", {"instances": [X]}, 400,
         Error("instances is a plain list, but expecting list of objects"), JSON_TENSOR),
    Rest("true for a float: 400", "POST", "/v1/models/toy:predict",
         {"instances": [{"x": [True, 1.0], "tag": TAG}]}, 400,
         Error("JSON Value: true Type: True is not of expected type: float"), JSON_TENSOR + " (AddValueToTensor)"),
    Rest("a string for a float: 400", "POST", "/v1/models/toy:predict",
         {"instances": [{"x": ["1", 1.0], "tag": TAG}]}, 400, Error("is not of expected type: float"), JSON_TENSOR),
    Rest("a number for a string: 400", "POST", "/v1/models/toy:predict", {"instances": [{"x": X, "tag": 5}]}, 400,
         Error("is not of expected type: string"), JSON_TENSOR),
    Rest("a fraction for an int32: 400", "POST", "/v1/models/toy:predict",
         {"signature_name": "count", "instances": [1.5]}, 400, Error("is not of expected type: int32"),
         JSON_TENSOR + " (IsInt)"),
    Rest("an int32 out of range: 400", "POST", "/v1/models/toy:predict",
         {"signature_name": "count", "instances": [2**31]}, 400, Error("is not of expected type: int32"), JSON_TENSOR),
    Rest("int32 in, int32 out", "POST", "/v1/models/toy:predict", {"signature_name": "count", "instances": [41]}, 200,
         {"predictions": [42]}, JSON_TENSOR),
    Rest("rows of different shapes: 400", "POST", "/v1/models/toy:predict",
         {"signature_name": "single", "instances": [[1, 2], [[1, 2]]]}, 400,
         Error("Expecting shape [2] but got: [1,2]"), JSON_TENSOR + " (AddInstanceItem)"),
    Rest("a ragged list: 400", "POST", "/v1/models/toy:predict", {"signature_name": "single", "inputs": [[1, 2], [3]]},
         400, Error("Encountered list at unexpected size: 1 at level: 1 expected size: 2"), JSON_TENSOR),
    Rest("base64 that does not decode: 400", "POST", "/v1/models/toy:predict",
         {"instances": [{"x": X, "tag": {"b64": "%%%"}}]}, 400, Error("Unable to base64 decode"), JSON_TENSOR),
    Rest("b64 objects carry bytes; text outputs are UTF-8", "POST", "/v1/models/toy:predict",
         {"instances": [{"x": X, "tag": {"b64": base64.b64encode("é".encode()).decode()}}]}, 200,
         {"predictions": [_prediction(3, "é")]}, REST_DOC + " (Encoding binary values; Output of binary values)"),
    # -- classify and regress -------------------------------------------------------------------------------------
    Rest("classify", "POST", "/v1/models/toy:classify", {"signature_name": "classify", "examples": [{"x": [0.5, 1.5]}]},
         200, {"results": [[["left", 0.268941432], ["right", 0.731058538]]]},
         REST_DOC + " (Classify and Regress API); " + JSON_TENSOR + " (MakeJsonFromClassificationResult)"),
    Rest("classify with a context", "POST", "/v1/models/toy:classify",
         {"signature_name": "classify", "context": {"x": [0.0, 0.0]}, "examples": [{"x": [0.5, 1.5]}, {"y": 1}]}, 200,
         {"results": [[["left", 0.268941432], ["right", 0.731058538]], [["left", 0.5], ["right", 0.5]]]},
         UTIL_CC + ": the context's bytes go before each example's"),
    Rest("regress, by label", "POST", "/v1/models/toy/labels/canary:regress",
         {"signature_name": "regress", "examples": [{"x": [0.5, 1.5]}]}, 200, {"results": [4.0]},
         REST_DOC + " (Classify and Regress API); " + JSON_TENSOR + " (MakeJsonFromRegressionResult)"),
    Rest("classify on a predict signature: 400", "POST", "/v1/models/toy:classify", {"examples": [{"x": [1.0, 2.0]}]},
         400, Error("Expected one input Tensor."), CLASSIFIER + " (PreProcessClassification)"),
    Rest("classify without examples: 400", "POST", "/v1/models/toy:classify", {"signature_name": "classify"}, 400,
         Error("When method is classify, key 'examples' is expected and was not found"), JSON_TENSOR),
    Rest("an example feature of mixed kinds: 400", "POST", "/v1/models/toy:classify",
         {"signature_name": "classify", "examples": [{"x": [0.5, 1]}]}, 400,
         Error("Unexpected element type in feature: x expecting type: float"), JSON_TENSOR + " (AddValueToFeature)"),
]  # fmt: skip


def _request(port: int, method: str, path: str, body: Any = None, headers: tuple = ()) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        connection.request(method, path, body=data, headers=dict(headers))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def server(toy_builds: dict[int, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    layout = Layout(tmp_path_factory.mktemp("volume"))
    for version, build in toy_builds.items():
        place(build, layout.model_dir("toy"), version)
    config = modelconfig.config_from_flags("toy", "all", ["stable=1", "canary=2"])
    core = ServingCore.from_config(layout, config, Retries(), allow_labels_for_unavailable_models=True)
    local = LocalServer(core, 0, grpc_port=0).start()
    yield local
    local.stop()


@pytest.mark.parametrize("row", REST, ids=[row.name for row in REST])
def test_rest(server: LocalServer, row: Rest) -> None:
    status, body = _request(server.port, row.method, row.path, row.body, row.headers)
    assert status == row.status, f"{row.source}: {body[:300]!r}"
    if isinstance(row.expect, bytes):
        assert body == row.expect, row.source
        return
    answer = json.loads(body.decode("utf-8", "surrogateescape"))  # TF Serving writes string outputs' bytes as is
    if isinstance(row.expect, Error):
        assert set(answer) == {"error"} and row.expect.text in answer["error"], f"{row.source}: {answer}"
    elif callable(row.expect):
        assert row.expect(answer), f"{row.source}: {answer}"
    else:
        assert answer == row.expect, row.source


# -- gRPC -------------------------------------------------------------------------------------------------------


def _spec(**fields: Any) -> model_pb2.ModelSpec:
    version = fields.pop("version", None)
    spec = model_pb2.ModelSpec(name=fields.pop("name", "toy"), **fields)
    if version is not None:
        spec.version.value = version
    return spec


def _predict(spec: model_pb2.ModelSpec | None = None, **inputs: Any) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest(model_spec=spec or _spec())
    values = inputs or {"x": np.array([X], np.float32), "tag": np.array([TAG.encode()], object)}
    for name, value in values.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def _examples(*rows: dict[str, list[float]]) -> Any:
    from tensorflow_serving.apis import input_pb2

    found = input_pb2.Input()
    for row in rows:
        example = found.example_list.examples.add()
        for name, values in row.items():
            example.features.feature[name].float_list.value.extend(values)
    return found


def _model_spec_is(name: str, signature: str, version: int) -> Callable[[Any], bool]:
    return lambda response: response.model_spec == _spec(name=name, signature_name=signature, version=version)


@dataclass(frozen=True)
class Rpc:
    name: str
    service: str  # "prediction" or "model"
    method: str
    request: Any
    code: grpc.StatusCode
    expect: Any  # a predicate on the response, or the text the error's details contain
    source: str


def _sum_is(value: float) -> Callable[[Any], bool]:
    return lambda r: list(r.outputs["sum"].float_val) == [value] and r.outputs["sum"].tensor_content == b""


OK = grpc.StatusCode.OK
RPC = [
    Rpc("Predict: model_spec in the answer, outputs in typed fields", "prediction", "Predict", _predict(), OK,
        lambda r: _model_spec_is("toy", "serving_default", 3)(r) and _sum_is(4.75)(r)
        and list(r.outputs["greeting"].string_val) == [b"hello a"],
        UTIL_CC + " (MakeModelSpec); " + PREDICT + " (AsProtoField)"),
    Rpc("Predict: output_filter", "prediction", "Predict",
        predict_pb2.PredictRequest(model_spec=_spec(), inputs=_predict().inputs, output_filter=["sum"]), OK,
        lambda r: set(r.outputs) == {"sum"}, PREDICT + " (PreProcessPrediction)"),
    Rpc("Predict: an unknown output alias", "prediction", "Predict",
        predict_pb2.PredictRequest(model_spec=_spec(), inputs=_predict().inputs, output_filter=["nope"]),
        grpc.StatusCode.INVALID_ARGUMENT, "output tensor alias not found in signature: nope", PREDICT),
    Rpc("Predict: a signature by name", "prediction", "Predict",
        _predict(_spec(signature_name="single"), x=np.array([[1, 2]], np.float32)), OK,
        lambda r: _model_spec_is("toy", "single", 3)(r) and list(r.outputs["doubled"].float_val) == [2.0, 4.0],
        PREDICT + " (RunPredict)"),
    Rpc("Predict: an unknown signature", "prediction", "Predict", _predict(_spec(signature_name="nope")),
        grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "nope" not found.', PREDICT),
    Rpc("Predict: a version", "prediction", "Predict", _predict(_spec(version=1)), OK, _sum_is(2.75),
        CORE + " (ServableRequestFromModelSpec)"),
    Rpc("Predict: a label", "prediction", "Predict", _predict(_spec(version_label="canary")), OK,
        lambda r: r.model_spec.version.value == 2 and _sum_is(3.75)(r), CORE + " (version_label)"),
    Rpc("Predict: an unknown label", "prediction", "Predict", _predict(_spec(version_label="nope")),
        grpc.StatusCode.INVALID_ARGUMENT, "Unrecognized servable version label: nope", CORE),
    Rpc("Predict: an unknown model", "prediction", "Predict", _predict(_spec(name="nope")),
        grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(nope)", MANAGER),
    Rpc("Predict: no model_spec", "prediction", "Predict", predict_pb2.PredictRequest(),
        grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec", TFS + "servables/tensorflow/predict_impl.cc"),
    Rpc("Predict: a dtype the signature does not take", "prediction", "Predict",
        _predict(x=np.array([X], np.float64), tag=np.array([b"a"], object)), grpc.StatusCode.INVALID_ARGUMENT,
        "to be float but double is provided", INPUTS),
    Rpc("Predict: a missing input", "prediction", "Predict", _predict(x=np.array([X], np.float32)),
        grpc.StatusCode.INVALID_ARGUMENT, "input size does not match signature: 1!=2", PREDICT),
    Rpc("GetModelMetadata", "prediction", "GetModelMetadata",
        get_model_metadata_pb2.GetModelMetadataRequest(model_spec=_spec(version_label="stable"),
                                                       metadata_field=["signature_def"]), OK,
        lambda r: r.model_spec.version.value == 1 and r.metadata["signature_def"].Is(
            get_model_metadata_pb2.SignatureDefMap.DESCRIPTOR), METADATA),
    Rpc("GetModelMetadata: an unknown field", "prediction", "GetModelMetadata",
        get_model_metadata_pb2.GetModelMetadataRequest(model_spec=_spec(), metadata_field=["nope"]),
        grpc.StatusCode.INVALID_ARGUMENT, "Metadata field nope is not supported", METADATA),
    Rpc("Classify", "prediction", "Classify",
        classification_pb2.ClassificationRequest(model_spec=_spec(signature_name="classify"),
                                                 input=_examples({"x": [0.5, 1.5]})), OK,
        lambda r: _model_spec_is("toy", "classify", 3)(r)
        and [c.label for c in r.result.classifications[0].classes] == ["left", "right"], CLASSIFIER),
    Rpc("Classify: no examples", "prediction", "Classify",
        classification_pb2.ClassificationRequest(model_spec=_spec(signature_name="classify")),
        grpc.StatusCode.INVALID_ARGUMENT, "Input is empty.", UTIL_CC),
    Rpc("Regress", "prediction", "Regress",
        regression_pb2.RegressionRequest(model_spec=_spec(signature_name="regress", version=2),
                                         input=_examples({"x": [0.5, 1.5]})), OK,
        lambda r: [x.value for x in r.result.regressions] == [4.0], REGRESSOR),
    Rpc("Regress on a classification signature", "prediction", "Regress",
        regression_pb2.RegressionRequest(model_spec=_spec(signature_name="classify"), input=_examples({"x": [1, 2]})),
        grpc.StatusCode.INVALID_ARGUMENT, "Expected one output Tensor.", REGRESSOR + " (PreProcessRegression)"),
    Rpc("MultiInference: classify and regress over the same examples", "prediction", "MultiInference",
        inference_pb2.MultiInferenceRequest(
            tasks=[inference_pb2.InferenceTask(model_spec=_spec(signature_name="classify"),
                                               method_name="tensorflow/serving/classify"),
                   inference_pb2.InferenceTask(model_spec=_spec(signature_name="regress"),
                                               method_name="tensorflow/serving/regress")],
            input=_examples({"x": [0.5, 1.5]})), OK,
        lambda r: len(r.results) == 2 and r.results[1].regression_result.regressions[0].value == 5.0
        and r.results[0].model_spec.signature_name == "classify", MULTI),
    Rpc("MultiInference: predict is no task method", "prediction", "MultiInference",
        inference_pb2.MultiInferenceRequest(
            tasks=[inference_pb2.InferenceTask(model_spec=_spec(), method_name="tensorflow/serving/predict")],
            input=_examples({"x": [0.5, 1.5]})), grpc.StatusCode.UNIMPLEMENTED,
        "Unsupported signature method_name: tensorflow/serving/predict", MULTI),
    Rpc("GetModelStatus", "model", "GetModelStatus",
        get_model_status_pb2.GetModelStatusRequest(model_spec=_spec()), OK,
        lambda r: [(s.version, s.state) for s in r.model_version_status] == [(3, 30), (2, 30), (1, 30)],
        SERVER + " (ModelService registered); " + STATUS),
    Rpc("GetModelStatus: one version", "model", "GetModelStatus",
        get_model_status_pb2.GetModelStatusRequest(model_spec=_spec(version=2)), OK,
        lambda r: [s.version for s in r.model_version_status] == [2], STATUS),
    Rpc("GetModelStatus: an unknown model", "model", "GetModelStatus",
        get_model_status_pb2.GetModelStatusRequest(model_spec=_spec(name="nope")), grpc.StatusCode.NOT_FOUND,
        "Could not find any versions of model nope", STATUS),
    Rpc("GetModelStatus: no model_spec", "model", "GetModelStatus", get_model_status_pb2.GetModelStatusRequest(),
        grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec", STATUS),
]  # fmt: skip


@pytest.fixture(scope="module")
def channel(server: LocalServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}", options=[("grpc.max_receive_message_length", -1)]) as c:
        yield c


@pytest.mark.parametrize("row", RPC, ids=[row.name for row in RPC])
def test_grpc(channel: grpc.Channel, row: Rpc) -> None:
    stub = (prediction_service_pb2_grpc.PredictionServiceStub if row.service == "prediction"
            else model_service_pb2_grpc.ModelServiceStub)(channel)  # fmt: skip
    try:
        response = getattr(stub, row.method)(row.request, timeout=30)
    except grpc.RpcError as exc:
        assert exc.code() == row.code, f"{row.source}: {exc.details()}"
        assert row.expect in exc.details(), row.source
        return
    assert row.code == OK, row.source
    assert row.expect(response), f"{row.source}: {response}"


def test_grpc_takes_requests_beyond_4_mib_like_tf_serving(channel: grpc.Channel) -> None:
    """TF Serving sets no 4 MiB limit: ServerBuilder::SetMaxMessageSize(INT32_MAX) (model_servers/server.cc)."""
    tag = b"t" * (5 << 20)
    request = _predict(x=np.array([X], np.float32), tag=np.array([tag], object))
    response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=60)
    assert response.outputs["tag_bytes"].string_val[0] == tag


def test_grpc_message_limit_is_a_setting(server: LocalServer) -> None:
    small, port = rpc.grpc_server(server.core, 0, max_message_bytes=1024)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = _predict(x=np.array([X], np.float32), tag=np.array([b"t" * 4096], object))
            with pytest.raises(grpc.RpcError) as info:
                stub.Predict(request, timeout=30)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        small.stop(0)


def test_answers_equal_the_signature_called_in_process(server: LocalServer, toy_builds: dict[int, Path]) -> None:
    """Bit for bit: what REST and gRPC return is what the SavedModel's signature computes."""
    x = np.random.default_rng(0).random((4, 2)).astype(np.float32)
    tags = np.array([b"a", b"b\xff", "é".encode(), b""], dtype=object)
    signature = tf.saved_model.load(str(toy_builds[3])).signatures["serving_default"]
    expected = {name: value.numpy() for name, value in signature(x=tf.constant(x), tag=tf.constant(tags)).items()}
    grpc_answer = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    ).Predict(_predict(x=x, tag=tags), timeout=30)
    for name, value in expected.items():
        np.testing.assert_array_equal(tf.make_ndarray(grpc_answer.outputs[name]), value)
    body = {"inputs": {"x": x.tolist(), "tag": [{"b64": base64.b64encode(t).decode()} for t in tags]}}
    status, raw = _request(server.port, "POST", "/v1/models/toy:predict", body)
    outputs = json.loads(raw.decode("utf-8", "surrogateescape"))["outputs"]
    assert status == 200
    np.testing.assert_array_equal(np.array(outputs["sum"], dtype=np.float32), expected["sum"])
    assert [base64.b64decode(v["b64"]) for v in outputs["tag_bytes"]] == list(expected["tag_bytes"])
    assert [v.encode("utf-8", "surrogateescape") for v in outputs["greeting"]] == list(expected["greeting"])


def test_examples_become_tf_examples_as_tf_serving_makes_them() -> None:
    """json_tensor.cc's MakeExampleFromJsonObject: strings and b64 are bytes, decimals floats, integers int64."""
    from dlpipe.serving import examples

    made = examples.input_from_json(
        {"examples": [{"s": "x", "b": {"b64": "/w=="}, "f": 1.5, "i": [1, True], "big": 2**70}]}
    )
    feature = made.example_list.examples[0].features.feature
    assert isinstance(made.example_list.examples[0], example_pb2.Example)
    assert feature["s"].bytes_list.value == [b"x"] and feature["b"].bytes_list.value == [b"\xff"]
    assert feature["f"].float_list.value == [1.5] and feature["i"].int64_list.value == [1, 1]
    assert feature["big"].float_list.value == [float(2**70)]
