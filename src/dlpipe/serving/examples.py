"""The classify and regress APIs: examples in (JSON or ``Input`` protos), results out (``util/json_tensor.cc``).

A REST body lists ``tf.train.Example``\\ s as objects, with optional context
features that every example gets::

    {"signature_name": "classify", "context": {"lang": "en"}, "examples": [{"x": [0.5, 1.5], "tag": "a"}, ...]}

A string is a bytes feature, and so is ``{"b64": ...}``; a number written
with a decimal point or an exponent is a float, an integer or ``true`` an
int64; a list gives a feature several values of one kind. The model gets one
serialized Example per example (the context's bytes first, so an example's own
feature of the same name wins, as protobuf merging does). The answers::

    classify: {"results": [[["label", score], ...], ...]}      regress: {"results": [value, ...]}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2

from dlpipe.serving import tensors
from dlpipe.serving.status import invalid

_INT64 = range(-(2**63), 2**63)
_UINT64 = range(2**64)


def serialized(examples: input_pb2.Input) -> list[bytes]:
    """What a classify or regress signature is fed: one serialized Example per example (none for an empty Input)."""
    kind = examples.WhichOneof("kind")
    if kind == "example_list":
        return [example.SerializeToString() for example in examples.example_list.examples]
    if kind == "example_list_with_context":
        context = examples.example_list_with_context.context.SerializeToString()
        return [context + example.SerializeToString() for example in examples.example_list_with_context.examples]
    return []


def input_from_json(body: Mapping[str, Any]) -> input_pb2.Input:
    """A classify or regress body's ``context`` and ``examples`` as TF Serving's ``Input``."""
    examples = body.get("examples")
    if examples is None:  # TF Serving says "classify" for regress too
        raise invalid(f"JSON Value: {tensors.debug(body)} When method is classify, key 'examples' is expected and "
                      "was not found")  # fmt: skip
    if not isinstance(examples, list):
        raise invalid(f"JSON Value: {tensors.debug(body)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise invalid(f"JSON Value: {tensors.debug(body)} 'examples' value is an empty array")
    result = input_pb2.Input()
    if "context" in body:
        listed = result.example_list_with_context
        listed.context.CopyFrom(_example(body["context"]))
        listed.examples.extend(_example(example) for example in examples)
    else:
        result.example_list.examples.extend(_example(example) for example in examples)
    return result


def _example(value: Any) -> example_pb2.Example:
    if not isinstance(value, dict):
        raise invalid(f"Example must be JSON object but got JSON {tensors.json_type(value)}")
    example = example_pb2.Example()
    for name, content in value.items():
        feature = feature_pb2.Feature()
        for item in content if isinstance(content, list) else [content]:
            _add_value(name, item, feature)
        example.features.feature[name].CopyFrom(feature)
    return example


def _add_value(name: str, value: Any, feature: feature_pb2.Feature) -> None:
    if value is None or isinstance(value, list) or (isinstance(value, dict) and not tensors.is_b64(value)):
        raise invalid(f"Feature: {name} has element with unexpected JSON type: {tensors.json_type(value)}")
    if isinstance(value, (str, dict)):
        kind, item = "bytes_list", tensors.array(value, types_pb2.DT_STRING).item()
    elif isinstance(value, bool):
        kind, item = "int64_list", int(value)
    elif isinstance(value, float) or (value not in _UINT64 and value not in _INT64):  # beyond 64 bits: a double
        kind, item = "float_list", float(value)
    elif value not in _INT64:
        raise invalid(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
    else:
        kind, item = "int64_list", value
    if feature.WhichOneof("kind") not in (None, kind):
        raise invalid(f"Unexpected element type in feature: {name} expecting type: "
                      f"{feature.WhichOneof('kind').removesuffix('_list')}")  # fmt: skip
    getattr(feature, kind).value.append(item)


def classification_json(result: classification_pb2.ClassificationResult) -> dict[str, Any]:
    if not result.classifications:
        raise invalid("Cannot convert empty ClassificationResults to JSON")
    rows = []
    for classifications in result.classifications:
        scores = tensors.float32_json(np.array([c.score for c in classifications.classes], dtype="float32"))
        rows.append([[c.label, score] for c, score in zip(classifications.classes, scores, strict=True)])
    return {"results": rows}


def regression_json(result: regression_pb2.RegressionResult) -> dict[str, Any]:
    if not result.regressions:
        raise invalid("Cannot convert empty RegressionResults to JSON")
    values = np.array([r.value for r in result.regressions], dtype="float32")
    return {"results": tensors.float32_json(values)}
