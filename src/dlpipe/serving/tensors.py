"""TF Serving's encodings of tensors, for requests and answers alike: JSON (``util/json_tensor.cc``) and TensorProto.

A predict body may name a signature, and gives the inputs in one of two formats::

    {"signature_name": "serving_default", "instances": [{"image": {"b64": "..."}, "text": "good"}, ...]}
    {"inputs": {"image": [{"b64": "..."}, ...], "text": ["good", ...]}}

Rows (``instances``) are objects whose keys are exactly the signature's inputs,
or plain values when it has one input; columns (``inputs``) give each input's
whole batch, and keys that name no input are ignored. A value must fit its
input's type: a number (not ``true``) for floats, an integer in range for
integers, a string for strings, where ``{"b64": "..."}`` carries bytes. The
answer mirrors the format: ``{"predictions": [...]}`` (one output: plain values
per row, several: an object per row) or ``{"outputs": ...}``. String outputs
are text, or ``{"b64": ...}`` when the output's name ends in ``_bytes``;
floats are written as TF Serving writes them (6 significant digits when that
reads back as the same float, else 9).

Bodies are parsed as TF Serving parses them: ``NaN`` and ``Infinity`` are
numbers, text after the first value is ignored, a number beyond a double is an
error, and bytes that are not UTF-8 inside a string are kept as bytes.

Over gRPC, tensors are read with TensorFlow and written as TF Serving writes
its answers (``Tensor::AsProtoField``: the typed fields such as ``float_val``,
not ``tensor_content``), so a client reading ``outputs["scores"].float_val``
finds its values.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from dlpipe.serving.status import Code, ServingError, invalid

Json = Any
B64 = "b64"
BYTES_SUFFIX = "_bytes"
_DEBUG_LIMIT = 256  # error messages quote at most this much of a value, as TF Serving does

# dtype -> (the integers a JSON value may hold, the numpy type the tensor gets). Narrow integer types take any
# int32 and wrap, as TF Serving's int_val -> tensor conversion does.
_INTEGERS = {
    types_pb2.DT_INT32: (range(-(2**31), 2**31), np.int32),
    types_pb2.DT_INT16: (range(-(2**31), 2**31), np.int16),
    types_pb2.DT_INT8: (range(-(2**31), 2**31), np.int8),
    types_pb2.DT_UINT8: (range(-(2**31), 2**31), np.uint8),
    types_pb2.DT_INT64: (range(-(2**63), 2**63), np.int64),
    types_pb2.DT_UINT32: (range(2**32), np.uint32),
    types_pb2.DT_UINT64: (range(2**64), np.uint64),
}
_FLOATS = {types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64}
# What TF Serving can write besides floats and strings (AddSingleValueAndAdvance).
_OUTPUT_TYPES = {
    np.dtype(t) for t in (np.float64, np.int32, np.int16, np.int8, np.uint8, np.int64, np.uint32, np.uint64, np.bool_)
}


def dtype_name(dtype: int) -> str:
    """``DT_FLOAT`` -> ``float``, as TF's DataTypeString names it."""
    return types_pb2.DataType.Name(dtype).removeprefix("DT_").lower()


def debug(value: Json) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)[:_DEBUG_LIMIT]


def json_type(value: Json) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return str(value)
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")


class _TooBig(ValueError):
    pass


def _double(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _TooBig(text)
    return value


_DECODER = json.JSONDecoder(parse_float=_double)


def parse_body(body: bytes) -> dict[str, Json]:
    """A request body as TF Serving's parser reads it; the top level must be an object."""
    text = body.decode("utf-8", "surrogateescape")
    start = len(text) - len(text.lstrip(" \t\n\r"))
    if start == len(text):
        raise invalid("JSON Parse error: The document is empty")
    try:
        document, _ = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise invalid(f"JSON Parse error: {exc.msg} at offset: {exc.pos}") from None
    except _TooBig:
        raise invalid("JSON Parse error: Number too big to be stored in double") from None
    if not isinstance(document, dict):
        raise invalid(f"JSON Value: {debug(document)} Is not object")
    return document


def signature_name(body: Mapping[str, Json]) -> str:
    """The body's ``signature_name``; empty means the default signature."""
    name = body.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid(
            f"JSON Value: {debug(body)} not formatted correctly. 'signature_name' key must be a string value."
        )
    return name


def is_b64(value: Json) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(B64), str)


def _is_object(value: Json) -> bool:
    return isinstance(value, dict) and not is_b64(value)


def predict_inputs(body: Mapping[str, Json], inputs: Mapping[str, int]) -> tuple[bool, dict[str, np.ndarray]]:
    """The request's tensors for a signature's inputs (name -> dtype), and whether it used rows."""
    if "instances" in body and "inputs" in body:
        raise invalid(f"JSON Value: {debug(body)} Not formatted correctly expecting only one of 'inputs' or "
                      "'instances' keys to exist ")  # fmt: skip
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list):
            raise invalid(f"JSON Value: {debug(body)} Expecting 'instances' to be an list/array")
        if not instances:
            raise invalid(f"JSON Value: {debug(body)} No values in 'instances' array")
        return True, instances_to_arrays(instances, inputs)
    if "inputs" in body:
        return False, columns_to_arrays(body["inputs"], inputs)
    raise invalid("Missing 'inputs' or 'instances' key")


class _Batch:
    """One input's values over the instances: each instance must have the first one's shape."""

    def __init__(self, dtype: int) -> None:
        self.dtype = dtype
        self.shape: list[int] | None = None
        self.leaves: list[Any] = []

    def add(self, value: Json) -> None:
        shape, leaves = _flatten(value, self.dtype)
        if self.shape is None:
            self.shape = shape
        elif math.prod(shape) != math.prod(self.shape):
            raise invalid(f"Expecting tensor size: {math.prod(self.shape)} but got: {math.prod(shape)}")
        elif shape != self.shape:
            raise invalid(f"Expecting shape {_shape_text(self.shape)} but got: {_shape_text(shape)}")
        self.leaves.extend(leaves)

    def array(self, count: int) -> np.ndarray:
        return _to_numpy(self.leaves, [count, *(self.shape or [])], self.dtype)


def _shape_text(shape: list[int]) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


def instances_to_arrays(instances: list[Json], inputs: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Rows (``instances``) -> one batched array per input; used by the REST server and the gRPC client alike."""
    if not isinstance(instances[0], dict) and len(inputs) > 1:
        raise invalid("instances is a plain list, but expecting list of objects as multiple input tensors required "
                      "as per tensorinfo_map")  # fmt: skip
    objects = _is_object(instances[0])
    batches: dict[str, _Batch] = {}
    for index, instance in enumerate(instances):
        if objects != _is_object(instance):
            wanted, got = ("object", "list") if objects else ("value/list", "object")
            raise invalid(f"Expecting {wanted} but got {got} at item {index} of input list")
        items = instance.items() if objects else [(min(inputs), instance)]
        for name, value in items:
            try:
                if name not in inputs:
                    raise invalid(f"JSON object: does not have named input: {name}")
                batches.setdefault(name, _Batch(inputs[name])).add(value)
            except ServingError as exc:
                where = f"{index} key: {name}" if objects else str(index)
                raise ServingError(exc.code, f"Failed to process element: {where} of 'instances' list. Error: "
                                             f"{exc.message}") from None  # fmt: skip
        if objects and set(instance) != set(inputs):
            raise invalid(f"Failed to process element: {index} of 'instances' list. JSON object: {debug(instance)} "
                          f"keys must be equal to: {','.join(sorted(inputs))}")  # fmt: skip
    return {name: batch.array(len(instances)) for name, batch in batches.items()}


def columns_to_arrays(value: Json, inputs: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Columns (``inputs``) -> one array per input; keys that are no input are ignored, as TF Serving does."""
    if not _is_object(value):
        if len(inputs) > 1:
            raise invalid("inputs is a plain value/list, but expecting an object as multiple input tensors required "
                          "as per tensorinfo_map")  # fmt: skip
        ((name, dtype),) = inputs.items()
        return {name: array(value, dtype)}
    for name in inputs:
        if name not in value:
            raise invalid(f"Missing named input: {name} in 'inputs' object.")
    return {name: array(value[name], dtype) for name, dtype in inputs.items()}


def array(value: Json, dtype: int) -> np.ndarray:
    """One JSON tensor (nested lists of one shape) as an array of ``dtype``; ``{"b64": ...}`` decoded to bytes."""
    shape, leaves = _flatten(value, dtype)
    return _to_numpy(leaves, shape, dtype)


def _flatten(value: Json, dtype: int) -> tuple[list[int], list[Any]]:
    shape = []
    probe = value
    while isinstance(probe, list):  # the shape is the first element's, all the way down
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    leaves: list[Any] = []
    _collect(value, shape, 0, leaves)
    return shape, _check_leaves(leaves, dtype)


def _collect(value: Json, shape: list[int], level: int, out: list[Any]) -> None:
    if not isinstance(value, list):
        if level != len(shape):
            raise invalid(f"JSON Value: {debug(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                          f"Expected at level: {len(shape)}")  # fmt: skip
        out.append(value)
        return
    if level >= len(shape):
        raise invalid(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
    if len(value) != shape[level]:
        raise invalid(f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: "
                      f"{shape[level]}")  # fmt: skip
    if level + 1 == len(shape) and list not in map(type, value):
        out.extend(value)
        return
    for item in value:
        _collect(item, shape, level + 1, out)


def _type_error(value: Json, dtype: int) -> ServingError:
    return invalid(f"JSON Value: {debug(value)} Type: {json_type(value)} is not of expected type: {dtype_name(dtype)}")


def _check_leaves(leaves: list[Json], dtype: int) -> list[Any]:
    """Each leaf checked against the dtype as TF Serving checks it; strings come back as bytes."""
    if not leaves:
        return leaves
    if dtype == types_pb2.DT_STRING:
        return [_bytes(leaf) for leaf in leaves]
    if dtype in _FLOATS:
        fits = set(map(type, leaves)) <= {float, int}  # exact types: true and false are no numbers
        allowed: Callable[[Any], bool] = _is_number
    elif dtype in _INTEGERS:
        values = _INTEGERS[dtype][0]
        fits = set(map(type, leaves)) == {int} and min(leaves) in values and max(leaves) in values
        allowed = functools.partial(_is_integer_in, values)
    elif dtype == types_pb2.DT_BOOL:
        fits = set(map(type, leaves)) == {bool}
        allowed = _is_bool
    else:
        raise ServingError(Code.UNIMPLEMENTED, f"Conversion of JSON Value: {debug(leaves[0])} to type: "
                                               f"{dtype_name(dtype)}")  # fmt: skip
    if not fits:
        raise _type_error(next(leaf for leaf in leaves if not allowed(leaf)), dtype)
    return leaves


def _is_number(value: Json) -> bool:
    return type(value) is float or type(value) is int  # exact types: true and false are no numbers


def _is_integer_in(values: range, value: Json) -> bool:
    return type(value) is int and value in values


def _is_bool(value: Json) -> bool:
    return type(value) is bool


def _bytes(leaf: Json) -> bytes:
    if isinstance(leaf, str):
        return leaf.encode("utf-8", "surrogateescape")
    if not isinstance(leaf, dict):
        raise _type_error(leaf, types_pb2.DT_STRING)
    if not is_b64(leaf):
        raise invalid(f"JSON Value: {debug(leaf)} not formatted correctly for base64 data")
    text = leaf[B64]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise invalid("Unable to base64 decode") from None


def _to_numpy(leaves: list[Any], shape: list[int], dtype: int) -> np.ndarray:
    if dtype == types_pb2.DT_STRING:
        result = np.empty(len(leaves), dtype=object)
        result[:] = leaves
        return result.reshape(shape)
    try:
        if dtype in _INTEGERS:
            target = _INTEGERS[dtype][1]
            wide = np.uint64 if target == np.uint64 else np.int64
            return np.array(leaves, dtype=wide).astype(target).reshape(shape)
        with np.errstate(over="ignore"):  # beyond a float32: infinity, as a C cast gives
            return np.array(leaves, dtype=_FLOATS.get(dtype, np.bool_)).reshape(shape)
    except OverflowError:
        raise invalid("JSON Parse error: Number too big to be stored in double") from None


# -- answers ----------------------------------------------------------------------------------------------------


def outputs_json(outputs: Mapping[str, np.ndarray], rows: bool) -> dict[str, Json]:
    """A predict answer in the request's format."""
    if not outputs:
        raise invalid("Cannot convert empty tensor map to JSON")
    if rows:
        return {"predictions": predictions(outputs)}
    if len(outputs) == 1:
        ((name, value),) = outputs.items()
        return {"outputs": output_json(name, value)}
    return {"outputs": {name: output_json(name, value) for name, value in outputs.items()}}


def predictions(outputs: Mapping[str, np.ndarray]) -> list[Json]:
    """Outputs in the row format: the first dimension is the batch, shared by every output."""
    batch = None
    for name, value in outputs.items():
        if value.ndim == 0:
            raise invalid(f"Tensor name: {name} has no shape information ")
        if batch is not None and len(value) != batch:
            raise invalid(f"Tensor name: {name} has inconsistent batch size: {len(value)} expecting: {batch}")
        batch = len(value)
    columns = {name: output_json(name, value) for name, value in outputs.items()}
    if len(columns) == 1:
        return next(iter(columns.values()))
    return [{name: column[row] for name, column in columns.items()} for row in range(batch or 0)]


def output_json(name: str, value: np.ndarray) -> Json:
    """One output tensor as TF Serving writes it; bytes as text unless the name ends in ``_bytes``."""
    return _json(value, _b64 if name.endswith(BYTES_SUFFIX) else _text, name)


def instances(columns: Mapping[str, np.ndarray]) -> list[dict[str, Json]]:
    """Arrays (a batch per input) as the rows a client sends: UTF-8 text as strings, other bytes as b64."""
    encoded = {name: _json(value, _text_or_b64, name) for name, value in columns.items()}
    count = len(next(iter(encoded.values())))
    return [{name: column[row] for name, column in encoded.items()} for row in range(count)]


def _b64(value: bytes) -> Json:
    return {B64: base64.b64encode(value).decode("ascii")}


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")  # TF Serving writes the bytes as they are


def _text_or_b64(value: bytes) -> Json:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return _b64(value)


def _json(value: np.ndarray, encode_bytes: Callable[[bytes], Json], name: str) -> Json:
    if value.dtype == object:
        return np.frompyfunc(encode_bytes, 1, 1)(value).tolist()
    if value.dtype == np.float32:
        return float32_json(value)
    if value.dtype not in _OUTPUT_TYPES:
        raise invalid(f"Failed to write JSON value for tensor type: {value.dtype} ({name})")
    return value.tolist()


def float32_json(value: np.ndarray) -> Json:
    """Float32 values as TF Serving writes them (``WriteDecimal``): ``%g``, or 9 digits when 6 do not read back."""
    flat = value.ravel()
    doubles = flat.tolist()
    short = [float(f"{v:.6g}") for v in doubles]
    with np.errstate(over="ignore"):
        differs = np.array(short, dtype=np.float32) != flat
    for index in np.flatnonzero(differs).tolist():
        short[index] = float(f"{doubles[index]:.9g}")
    return np.array(short, dtype=np.float64).reshape(value.shape).tolist()


# -- TensorProto ------------------------------------------------------------------------------------------------

# dtype -> the TensorProto field AsProtoField fills (half precision goes as its bit pattern, in half_val).
_FIELDS = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_STRING: "string_val",
    types_pb2.DT_HALF: "half_val",
}


def ndarray(alias: str, proto: tensor_pb2.TensorProto) -> np.ndarray:
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError):
        raise invalid(f"tensor parsing error: {alias}") from None


def tensor_proto(value: np.ndarray) -> tensor_pb2.TensorProto:
    """An array as TF Serving writes tensors into its answers: dtype, shape and the typed value field."""
    dtype = types_pb2.DT_STRING if value.dtype == object else tf.as_dtype(value.dtype).as_datatype_enum
    field = _FIELDS.get(dtype)
    if field is None:
        return tf.make_tensor_proto(value)
    proto = tensor_pb2.TensorProto(dtype=dtype)
    proto.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in value.shape)
    flat = value.view(np.uint16) if dtype == types_pb2.DT_HALF else value
    getattr(proto, field).extend(flat.ravel().tolist())
    return proto
