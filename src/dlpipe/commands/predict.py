"""``dlpipe predict``: one request to TF Serving (or serve-local), from inputs a person has.

Instances come as JSON (``--instances``, ``--input``) or are built from what a
person has at hand: ``--image cat.jpg`` (the file's bytes, base64-encoded as
TF Serving's REST API takes bytes), ``--text "a great movie"``, ``--csv-row
'age=39,workclass=State-gov'`` (a value per named input; an empty or a left-out
one is missing). Which input an image or a text feeds, and each input's type,
come from the model's metadata (``GET /v1/models/NAME/metadata``, or gRPC's
GetModelMetadata); where the server does not answer it, ``--input-name`` says.

Each instance's answer is shown as its likeliest classes: by name when the
model answers with ``classes`` and ``scores``, by index from ``probabilities``
otherwise. ``--json`` prints the server's answer as it came.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlpipe import log
from dlpipe.errors import EXIT_OK, ConfigError, DlpipeError
from dlpipe.waiting import wait_until

LONGEST_LABEL = 40  # characters of a --text shown beside its answer
_NUMBERS = {"DT_FLOAT": float, "DT_DOUBLE": float, "DT_HALF": float, "DT_BFLOAT16": float, "DT_INT64": int,
            "DT_INT32": int, "DT_INT16": int, "DT_INT8": int, "DT_UINT8": int}  # fmt: skip


def register(sub: Any) -> None:
    predict = sub.add_parser(
        "predict",
        help="ask a served model about an image, a text, a CSV row or JSON instances",
        description="Send one predict request to TF Serving or serve-local (REST, or gRPC with --grpc) and show "
        "each instance's likeliest classes.",
    )
    predict.add_argument("--model", required=True, metavar="NAME", help="the served model")
    predict.add_argument("--url", default="http://localhost:8501", help="TF Serving's REST API")
    predict.add_argument("--grpc", metavar="HOST:PORT", help="use TF Serving's gRPC API at HOST:PORT instead")
    which = predict.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, metavar="N", help="a version (default: the newest)")
    which.add_argument("--label", metavar="LABEL", help="a version label, e.g. stable or canary")
    data = predict.add_mutually_exclusive_group(required=True)
    data.add_argument("--image", action="append", type=Path, metavar="FILE", help="an image file (repeatable)")
    data.add_argument("--text", action="append", metavar="TEXT", help="a text, e.g. 'a great movie' (repeatable)")
    data.add_argument("--csv-row", action="append", metavar="NAME=VALUE,...",
                      help="one value per input, e.g. 'age=39,workclass=State-gov' (repeatable)")  # fmt: skip
    data.add_argument("--instances", metavar="JSON", help='TF Serving instances, e.g. \'[{"text": "great film"}]\'')
    data.add_argument("--input", type=Path, metavar="FILE", help="a JSON file holding the instances")
    predict.add_argument("--input-name", metavar="NAME",
                         help="the input an --image or --text feeds (default: the one string input)")  # fmt: skip
    predict.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                         help="wait this long for the model to be served (REST)")  # fmt: skip
    predict.add_argument("--top", type=int, default=3, metavar="N", help="classes shown per instance")
    predict.add_argument("--json", action="store_true", help="print the server's answer as JSON")
    predict.set_defaults(handler=predict_command, needs_config=False)


@dataclass
class Request:
    """The instances to send and what to call each one in the answer."""

    instances: list[Any]
    labels: list[str]


class Inputs:
    """The model's inputs and their types, from its metadata; or only what the user said, where there is none."""

    def __init__(self, args: argparse.Namespace) -> None:
        from dlpipe.serving.client import grpc_input_types, rest_metadata

        self.model, self.chosen = args.model, args.input_name
        self.types: dict[str, str] | None = None
        self.why = ""
        try:
            if args.grpc:
                self.types = grpc_input_types(args.grpc, args.model, args.version, args.label)
            else:
                metadata = rest_metadata(args.url, args.model, args.version, args.label)
                signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
                self.types = {name: spec["dtype"] for name, spec in signature["inputs"].items()}
        except DlpipeError as exc:
            self.why = str(exc)
        except (KeyError, TypeError):
            self.why = "its metadata has no serving_default signature"
        if self.chosen and self.types is not None and self.chosen not in self.types:
            raise ConfigError(f"--input-name {self.chosen}: {self.model} has no such input", self._listed())

    def _listed(self) -> str:
        return "its inputs: " + ", ".join(f"{name} ({kind})" for name, kind in sorted((self.types or {}).items()))

    def string_input(self, flag: str) -> str:
        """The input an image or a text goes to: --input-name, else the model's only string input."""
        if self.chosen:
            return self.chosen
        if self.types is None:
            raise DlpipeError(f"cannot tell which input of {self.model} {flag} feeds: no metadata ({self.why})",
                              "pass --input-name NAME")  # fmt: skip
        strings = sorted(name for name, kind in self.types.items() if kind == "DT_STRING")
        if len(strings) != 1:
            problem = "takes no string input" if not strings else "has several string inputs"
            raise ConfigError(f"{self.model} {problem}, so {flag} fits no one input", self._listed())
        return strings[0]

    def value(self, name: str, text: str) -> Any:
        """A CSV cell as its input's type wants it (a number where it looks like one, without metadata).

        A blank cell is a hole, sent as training's datasets hold one (NaN for a number, "" for a
        string), for the model to fill as it learned to.
        """
        if self.types is not None and name not in self.types:
            raise ConfigError(f"--csv-row: {self.model} has no input {name!r}", self._listed())
        if not text.strip():
            return _hole(name, self.types[name] if self.types else "DT_STRING")
        if self.types is None:
            for guess in (int, float):
                try:
                    return guess(text)
                except ValueError:
                    continue
            return text
        convert = _NUMBERS.get(self.types[name])
        if convert is None:
            return text
        try:
            return convert(text)
        except ValueError:
            raise ConfigError(f"--csv-row: {name}={text!r} is not what {name} takes ({self.types[name]})") from None


def _hole(name: str, dtype: str) -> Any:
    if _NUMBERS.get(dtype) is float:
        return math.nan
    if dtype == "DT_STRING":
        return ""
    raise ConfigError(f"--csv-row: {name} is missing, and its input takes whole numbers ({dtype}), which have no hole")


def _csv_row(text: str, inputs: Inputs) -> dict[str, Any]:
    """``age=39,workclass="State-gov, local"`` as one instance: cells split at commas, quotes keep them in a value."""
    cells = shlex.shlex(text, posix=True)
    cells.whitespace, cells.whitespace_split = ",", True
    row: dict[str, Any] = {}
    try:
        split = list(cells)
    except ValueError as exc:  # an unclosed quote
        raise ConfigError(f"--csv-row {text!r}: {exc}") from None
    for cell in split:
        name, sep, value = cell.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--csv-row: {cell!r} is not NAME=VALUE", "e.g. 'age=39,workclass=State-gov'")
        row[name.strip()] = inputs.value(name.strip(), value)
    for name, dtype in (inputs.types or {}).items():
        if name not in row:  # a column left out is missing, like a blank one
            row[name] = _hole(name, dtype)
    return row


def _from_json(args: argparse.Namespace) -> list[Any]:
    try:
        instances = json.loads(args.input.read_text() if args.input else args.instances)
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the instances: {exc}") from None
    if isinstance(instances, dict) and "instances" in instances:
        instances = instances["instances"]
    if not isinstance(instances, list) or not instances:
        raise ConfigError("the instances must be a non-empty JSON list")
    return instances


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read --image {path}: {exc.strerror}") from None


def build(args: argparse.Namespace) -> Request:
    """The instances the flags describe, each with the label its answer is shown under."""
    if args.instances or args.input:
        instances = _from_json(args)
        return Request(instances, [f"instance {i + 1}" for i in range(len(instances))])
    inputs = Inputs(args)
    if args.image:
        name = inputs.string_input("--image")
        images = [{name: {"b64": base64.b64encode(_read(path)).decode()}} for path in args.image]
        return Request(images, [path.name for path in args.image])
    if args.text:
        name = inputs.string_input("--text")
        short = [t if len(t) <= LONGEST_LABEL else t[: LONGEST_LABEL - 1] + "…" for t in args.text]
        return Request([{name: text} for text in args.text], [json.dumps(t, ensure_ascii=False) for t in short])
    rows = [_csv_row(text, inputs) for text in args.csv_row]
    return Request(rows, [f"row {i + 1}" for i in range(len(rows))])


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, (int, float)) for v in value)


def describe(prediction: Any, top: int = 3) -> str:
    """``dog 91.0%; next cat 9.0%``: the ``top`` likeliest classes.

    By name from the model's ``classes`` and ``scores`` (its likeliest classes,
    in step, as TF Serving's classification outputs are); else by index from
    ``probabilities`` (a row that is a plain list is one).
    """
    if _numbers(prediction):
        prediction = {"probabilities": prediction}
    if not isinstance(prediction, dict):
        return json.dumps(prediction)
    classes, scores = prediction.get("classes"), prediction.get("scores")
    if isinstance(classes, list) and _numbers(scores) and len(classes) == len(scores):
        ranked = [(str(name), score) for name, score in zip(classes, scores, strict=True)]
    elif _numbers(prediction.get("probabilities")):
        ranked = [(str(index), score) for index, score in enumerate(prediction["probabilities"])]
    else:
        return json.dumps(prediction)
    shown = [f"{name} {100 * score:.1f}%" for name, score in sorted(ranked, key=lambda pair: -pair[1])[: max(top, 1)]]
    return shown[0] + (f"; next {', '.join(shown[1:])}" if shown[1:] else "")


def predict_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.serving.client import grpc_predict, rest_predict
    from dlpipe.serving.ready import unavailable

    wanted = {args.model: "latest"}
    if args.wait and not args.grpc and not wait_until(lambda: not unavailable(args.url, wanted), args.wait):
        problems = "; ".join(unavailable(args.url, wanted))
        raise DlpipeError(f"{args.model} is not served at {args.url} after {args.wait:g}s: {problems}")
    request = build(args)
    if args.grpc:
        log.import_tensorflow()  # the gRPC client needs TensorFlow; keep its start-up noise off the terminal
    call = grpc_predict if args.grpc else rest_predict
    answer = call(args.grpc or args.url, args.model, request.instances, version=args.version, label=args.label)
    if args.json:
        print(json.dumps(answer))
        return EXIT_OK
    version = f" version {answer['model_version']}" if "model_version" in answer else ""
    print(f"{args.model}{version}:")
    for label, prediction in zip(request.labels, answer["predictions"], strict=True):
        print(f"  {label}: {describe(prediction, args.top)}")
    return EXIT_OK
