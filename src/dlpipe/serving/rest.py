"""TF Serving's REST API over a :class:`ServingCore` (``model_servers/http_rest_api_handler.cc``, ``http_server.cc``).

Only paths matching ``(?i)/v1/.*`` reach the API; others get the HTTP
server's plain 404 page. The API answers::

    GET  /v1/models/<m>[/versions/<v>|/labels/<l>]            status (a label there is ignored: all versions)
    GET  /v1/models/<m>[/versions/<v>|/labels/<l>]/metadata   the version's SignatureDefs
    POST /v1/models/<m>[/versions/<v>|/labels/<l>]:(predict|classify|regress)

The path (with its query string, which TF Serving keeps) is matched
case-insensitively, but the method and ``metadata`` are then compared as
written: ``:PREDICT`` is a malformed request, and ``/METADATA`` asks for the
status, as in TF Serving. Anything else, and any other HTTP method, is 400
"Malformed request"; ``OPTIONS`` is a CORS preflight (200 with an ``Origin``,
else 400). Errors are ``{"error": message}`` with the HTTP status of the
failure's code (:mod:`dlpipe.serving.status`). Model names and labels are
percent-decoded.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

from dlpipe import log
from dlpipe.serving import examples, tensors
from dlpipe.serving.core import ServingCore
from dlpipe.serving.servable import DEFAULT_SIGNATURE, SIGNATURE_DEF
from dlpipe.serving.status import HTTP_STATUS, Code, ServingError, invalid

logger = log.get("serve-local")

_API = re.compile(r"/v1/.*", re.IGNORECASE)
_TARGET = r"(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?"
_POST = re.compile(r"/v1/models/([^/:]+)" + _TARGET + r":(classify|regress|predict)", re.IGNORECASE)
_GET = re.compile(r"/v1/models(?:/([^/:]+))?" + _TARGET + r"(?:/(metadata))?", re.IGNORECASE)
_INT64_MAX = 2**63 - 1
NOT_FOUND_PAGE = b"<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n</BODY></HTML>\n"


def respond(core: ServingCore, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    """One API call: the HTTP status and the JSON body TF Serving would send."""
    try:
        answer = _dispatch(core, method, path, body)
    except ServingError as exc:
        return exc.http_status, _dump({"error": exc.message})
    return 200, _dump(answer)


def _dump(answer: dict[str, Any]) -> bytes:
    return json.dumps(answer, ensure_ascii=False).encode("utf-8", "surrogateescape")


def _dispatch(core: ServingCore, method: str, path: str, body: bytes) -> dict[str, Any]:
    pattern = {"POST": _POST, "GET": _GET}.get(method)
    match = pattern.fullmatch(path) if pattern else None
    malformed = invalid(f"Malformed request: {method} {path}")
    if match is None:
        raise malformed
    name, version, label, last = match.groups()
    spec = model_pb2.ModelSpec(name=urllib.parse.unquote(name or "", errors="replace"))
    if version is not None:
        if int(version) > _INT64_MAX:
            raise invalid(f"Failed to convert version: {version} to numeric.")
        spec.version.value = int(version)
    if label is not None:
        spec.version_label = urllib.parse.unquote(label, errors="replace")
    if method == "POST":
        if last == "predict":
            return _predict(core, spec, body)
        if last in ("classify", "regress"):
            return _classify_or_regress(core, spec, body, last)
        raise malformed
    if not spec.name:
        raise invalid("Missing model name in request.")
    if last == "metadata":
        return _metadata(core, spec)
    status = core.model_status(spec)
    return json_format.MessageToDict(status, always_print_fields_with_no_presence=True)


def _predict(core: ServingCore, spec: model_pb2.ModelSpec, body: bytes) -> dict[str, Any]:
    document = tensors.parse_body(body)
    signature_name = tensors.signature_name(document)
    servable = core.servable(spec)
    signature = servable.signature(signature_name)
    if signature is None:
        raise invalid(f'Serving signature name: "{signature_name or DEFAULT_SIGNATURE}" not found in signature def')
    inputs = {alias: info.dtype for alias, info in signature.inputs.items()}
    if not inputs:
        raise invalid(f"Failed to get input map for signature: {signature_name or 'DEFAULT'}")
    rows, arrays = tensors.predict_inputs(document, inputs)
    return tensors.outputs_json(servable.predict(signature_name, arrays), rows)


def _classify_or_regress(core: ServingCore, spec: model_pb2.ModelSpec, body: bytes, method: str) -> dict[str, Any]:
    document = tensors.parse_body(body)
    signature_name = tensors.signature_name(document)
    serialized = examples.serialized(examples.input_from_json(document))
    servable = core.servable(spec)
    if method == "classify":
        return examples.classification_json(servable.classify(signature_name, serialized))
    return examples.regression_json(servable.regress(signature_name, serialized))


def _metadata(core: ServingCore, spec: model_pb2.ModelSpec) -> dict[str, Any]:
    request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec, metadata_field=[SIGNATURE_DEF])
    response = core.metadata(request)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF].Unpack(signatures)
    options = {"always_print_fields_with_no_presence": True, "preserving_proto_field_name": True}
    return {
        "model_spec": json_format.MessageToDict(response.model_spec, **options),
        "metadata": {SIGNATURE_DEF: json_format.MessageToDict(signatures, **options)},
    }


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, as TF Serving's server speaks; every method goes to :func:`respond`."""

    protocol_version = "HTTP/1.1"
    wbufsize = -1  # headers and body leave in one write (handle_one_request flushes after each answer)
    core: ServingCore

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, body: bytes, content_type: str | None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _serve(self) -> None:
        if not _API.fullmatch(self.path):
            self._answer(404, NOT_FOUND_PAGE, "text/html; charset=ISO-8859-1")
            return
        body = self._read_body()
        if self.command == "OPTIONS":
            preflight = re.search(r"https?://", self.headers.get("Origin", ""))
            self._answer(200 if preflight else HTTP_STATUS[Code.FAILED_PRECONDITION], b"", None)
            return
        self._answer(*respond(self.core, self.command, self.path, body), "application/json")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


def http_server(core: ServingCore, port: int) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"core": core})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server
