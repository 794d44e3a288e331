"""``dlpipe serve-local``: TF Serving's REST (and gRPC Predict) API over the models directory.

For trying the pipeline without a cluster; in a cluster the dlpipe-serving
chart runs the real TensorFlow Serving. New versions published while it runs
become servable within ``poll`` seconds, as with TF Serving's file system
polling. REST: ``GET /v1/models/<m>[/versions/<v>]``, ``POST
/v1/models/<m>[/versions/<v>|/labels/<l>]:predict`` with ``instances`` or
``inputs``. The labels ``stable`` (newest) and ``canary`` are not needed
locally: ``latest`` and version numbers are.
"""

from __future__ import annotations

import json
import re
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dlpipe import log
from dlpipe.errors import DlpipeError
from dlpipe.serving.repository import Repository
from dlpipe.serving.tensors import request_columns, response_rows

logger = log.get("serve-local")
_PATH = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?(:predict)?$")


def status(repository: Repository, version: int | None) -> tuple[int, dict[str, Any]]:
    versions = repository.versions() if version is None else [v for v in repository.versions() if v == version]
    if not versions:
        which = f" version {version}" if version is not None else ""
        return 404, {"error": f"Could not find any versions of model {repository.model}{which}"}
    entries = [{"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
               for v in sorted(versions, reverse=True)]  # fmt: skip
    return 200, {"model_version_status": entries}


def make_handler(repository: Repository) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self) -> tuple[int | None, bool] | None:
            match = _PATH.match(self.path)
            if not match or match.group(1) != repository.model:
                self._send(404, {"error": f"unknown path {self.path} (this server serves {repository.model})"})
                return None
            version = int(match.group(2)) if match.group(2) else None
            label = match.group(3)
            if label is not None and label not in ("latest", "stable"):
                self._send(404, {"error": f"unknown version label {label!r}"})
                return None
            return version, bool(match.group(4))

        def do_GET(self) -> None:
            route = self._route()
            if route is not None:
                self._send(*status(repository, route[0]))

        def do_POST(self) -> None:
            route = self._route()
            if route is None:
                return
            version, predict = route
            if not predict:
                self._send(404, {"error": "POST needs :predict"})
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                servable = repository.get(version)
                outputs = servable.predict(request_columns(body, list(servable.inputs)))
            except json.JSONDecodeError:
                self._send(400, {"error": "the body is not JSON"})
            except LookupError as exc:
                self._send(404, {"error": str(exc)})
            except DlpipeError as exc:
                self._send(400, {"error": str(exc)})
            else:
                key = "predictions" if "instances" in body else "outputs"
                value = response_rows(outputs) if key == "predictions" else {k: v.tolist() for k, v in outputs.items()}
                self._send(200, {key: value, "model_version": str(servable.version)})

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s %s", self.address_string(), format % args)

    return Handler


def grpc_server(repository: Repository, port: int) -> Any:
    """A PredictionService answering Predict from the same versions."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    class Service(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request: Any, context: Any) -> Any:
            if request.model_spec.name != repository.model:
                context.abort(grpc.StatusCode.NOT_FOUND, f"unknown model {request.model_spec.name}")
            version = request.model_spec.version.value if request.model_spec.HasField("version") else None
            try:
                servable = repository.get(version)
                columns = {name: tf.make_ndarray(proto).tolist() for name, proto in request.inputs.items()}
                outputs = servable.predict(columns)
            except LookupError as exc:
                context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
            except DlpipeError as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            response = predict_pb2.PredictResponse()
            response.model_spec.name = repository.model
            response.model_spec.version.value = servable.version
            for name, value in outputs.items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Service(), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, bound


class LocalServer:
    """REST (and optionally gRPC) over a repository that polls for new versions."""

    def __init__(self, repository: Repository, port: int, grpc_port: int | None = None, poll: float = 2.0) -> None:
        self.repository = repository
        self.poll = poll
        repository.refresh()
        self.http = ThreadingHTTPServer(("127.0.0.1", port), make_handler(repository))
        self.http.daemon_threads = True
        self.port = self.http.server_port
        self.grpc, self.grpc_port = grpc_server(repository, grpc_port) if grpc_port is not None else (None, None)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self.http.serve_forever, daemon=True),
                         threading.Thread(target=self._watch, daemon=True)]  # fmt: skip

    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.repository.refresh()
            except Exception as exc:  # a half-copied or broken version must not stop serving the others
                logger.warning("could not load a new version of %s: %s", self.repository.model, exc)

    def start(self) -> LocalServer:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.http.shutdown()
        if self.grpc is not None:
            self.grpc.stop(0)
