"""The gRPC services TF Serving registers (``model_servers/server.cc``), over a :class:`ServingCore`.

``tensorflow.serving.PredictionService``: Predict, GetModelMetadata, Classify,
Regress and MultiInference; ``tensorflow.serving.ModelService``:
GetModelStatus. (HandleReloadConfigRequest stays unimplemented: serve-local
reads its model config once.) A failure is the gRPC status of TF Serving's
code, its message cut at 1024 characters. Messages may be as large as TF
Serving allows, ``INT32_MAX`` bytes, both ways.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent import futures
from typing import Any, TypeVar

import grpc
from tensorflow_serving.apis import model_pb2, model_service_pb2_grpc, prediction_service_pb2_grpc

from dlpipe.serving import inference
from dlpipe.serving.core import ServingCore
from dlpipe.serving.status import ServingError, invalid

MAX_MESSAGE_BYTES = 2**31 - 1  # grpc::ServerBuilder::SetMaxMessageSize(INT32_MAX) in TF Serving
Answer = TypeVar("Answer")


def _answer(context: grpc.ServicerContext, work: Callable[[], Answer]) -> Answer:
    try:
        return work()
    except ServingError as exc:
        context.abort(grpc.StatusCode[exc.code.name], exc.grpc_details)  # raises: the call ends here


def _spec(request: Any) -> model_pb2.ModelSpec:
    if not request.HasField("model_spec"):
        raise invalid("Missing ModelSpec")
    return request.model_spec


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, core: ServingCore) -> None:
        self.core = core

    def _run(self, context: grpc.ServicerContext, request: Any, spec: Callable[[Any], Any], run: Callable) -> Any:
        def work() -> Any:
            servable = self.core.servable(spec(request))
            return run(servable, request, servable.version)

        return _answer(context, work)

    def Predict(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._run(context, request, _spec, inference.predict)

    def Classify(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._run(context, request, _spec, inference.classify)

    def Regress(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._run(context, request, _spec, inference.regress)

    def MultiInference(self, request: Any, context: grpc.ServicerContext) -> Any:
        def first_task(
            request: Any,
        ) -> model_pb2.ModelSpec:  # the model is the first task's (multi_inference_helper.cc)
            return request.tasks[0].model_spec if request.tasks else model_pb2.ModelSpec()

        return self._run(context, request, first_task, inference.multi_inference)

    def GetModelMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _answer(context, lambda: self.core.metadata(request))


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, core: ServingCore) -> None:
        self.core = core

    def GetModelStatus(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _answer(context, lambda: self.core.model_status(_spec(request)))


def grpc_server(core: ServingCore, port: int, max_message_bytes: int = MAX_MESSAGE_BYTES) -> tuple[grpc.Server, int]:
    """Both services on 127.0.0.1:``port`` (0: any free port), started; returns the server and its port."""
    limits = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4 * (os.cpu_count() or 1)), options=limits)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(core), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(core), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, bound
