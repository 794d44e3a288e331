"""TF Serving's error model: one status code per failure, mapped to an HTTP status for REST and a gRPC code.

TF Serving answers every failure with an ``absl::Status``: gRPC sends its code
as is (with the message cut at 1024 characters), REST maps the code to an HTTP
status (``model_servers/http_server.cc``, ``ToHTTPStatusCode``) and sends
``{"error": message}``. serve-local raises :class:`ServingError` with the code
TF Serving uses for the same failure, so both transports answer alike.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    """``absl::StatusCode`` (the same numbers as gRPC's status codes)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


HTTP_STATUS = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}

# gRPC answers carry at most this much of a message (model_servers/grpc_status_util.cc).
GRPC_MESSAGE_LIMIT = 1024


class ServingError(Exception):
    """A request or a load that failed the way TF Serving's would: a code and TF Serving's message."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    @property
    def grpc_details(self) -> str:
        if len(self.message) <= GRPC_MESSAGE_LIMIT:
            return self.message
        return self.message[:GRPC_MESSAGE_LIMIT] + "...TRUNCATED"


def invalid(message: str) -> ServingError:
    return ServingError(Code.INVALID_ARGUMENT, message)
