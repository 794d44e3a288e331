"""TF Serving's JSON encoding of tensors: row ("instances") and columnar ("inputs") formats, {"b64": ...} bytes."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from dlpipe.errors import DlpipeError


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def request_columns(body: dict[str, Any], names: list[str]) -> dict[str, list[Any]]:
    """A predict request body -> one list of values per input name."""
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise DlpipeError("'instances' must be a non-empty list")
        if all(isinstance(i, dict) and set(i) != {"b64"} for i in instances):
            return {name: [_decode(i[name]) for i in instances] for name in names if _all_have(instances, name)}
        if len(names) != 1:
            raise DlpipeError(f"the model takes named inputs {names}: send instances as objects")
        return {names[0]: [_decode(i) for i in instances]}
    if "inputs" in body:
        inputs = body["inputs"]
        if isinstance(inputs, dict):
            return {name: _decode(value) for name, value in inputs.items()}
        if len(names) != 1:
            raise DlpipeError(f"the model takes named inputs {names}: send inputs as an object")
        return {names[0]: _decode(inputs)}
    raise DlpipeError("the request has neither 'instances' nor 'inputs'")


def _all_have(instances: list[dict[str, Any]], name: str) -> bool:
    missing = [i for i, instance in enumerate(instances) if name not in instance]
    if missing:
        raise DlpipeError(f"instance {missing[0]} lacks input {name!r}")
    return True


def response_rows(outputs: dict[str, np.ndarray]) -> list[Any]:
    """Outputs -> "predictions" in the row format (one output: plain values)."""
    if len(outputs) == 1:
        return _encode(next(iter(outputs.values())).tolist())
    rows = len(next(iter(outputs.values())))
    return [{name: _encode(value[i].tolist()) for name, value in outputs.items()} for i in range(rows)]
