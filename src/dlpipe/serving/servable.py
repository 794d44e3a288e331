"""One model version, loaded and run the way TF Serving loads and runs it.

Loading reads ``saved_model.pb`` (or ``.pbtxt``) itself, for the SignatureDefs
TF Serving reports as metadata and checks requests against, then loads the
SavedModel's ``serve`` graph with TensorFlow. A version that cannot load fails
with the status TF Serving gives: NOT_FOUND for a missing file or tag,
DATA_LOSS for an unreadable proto, TensorFlow's own code for the rest.

Requests are checked as ``servables/tensorflow/predict_util.cc``,
``classifier.cc`` and ``regressor.cc`` check them (inputs named as in the
signature, dtypes as declared, classification outputs ``classes``/``scores``,
regression output ``outputs``), then the signature's function runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from google.protobuf import message, text_format
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import classification_pb2, regression_pb2

from dlpipe.serving.status import Code, ServingError, invalid
from dlpipe.serving.tensors import dtype_name

DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
CLASSIFY_INPUTS = tf.saved_model.CLASSIFY_INPUTS
CLASSES = tf.saved_model.CLASSIFY_OUTPUT_CLASSES
SCORES = tf.saved_model.CLASSIFY_OUTPUT_SCORES
REGRESS_INPUTS = tf.saved_model.REGRESS_INPUTS
REGRESS_OUTPUTS = tf.saved_model.REGRESS_OUTPUTS

SIGNATURE_DEF = "signature_def"  # the one metadata field TF Serving knows
SignatureDef = meta_graph_pb2.SignatureDef


@dataclass(frozen=True)
class Servable:
    """A loaded version: its SignatureDefs (what clients see) and functions (what runs)."""

    version: int
    signatures: Mapping[str, SignatureDef]
    functions: Mapping[str, Any]
    loaded: Any  # keeps the SavedModel's resources alive while a request holds this version

    def signature(self, name: str) -> SignatureDef | None:
        return self.signatures.get(name or DEFAULT_SIGNATURE)

    def predict(
        self, signature_name: str, inputs: Mapping[str, np.ndarray], output_filter: Sequence[str] = ()
    ) -> dict[str, np.ndarray]:
        name = signature_name or DEFAULT_SIGNATURE
        signature = self.signature(name)
        if signature is None:
            raise ServingError(Code.FAILED_PRECONDITION, f'Serving signature key "{name}" not found.')
        _check_inputs(signature, inputs)
        seen: set[str] = set()
        for alias in output_filter:
            if alias not in signature.outputs:
                raise invalid(f"output tensor alias not found in signature: {alias} Outputs expected to be in the "
                              f"set {{{','.join(sorted(signature.outputs))}}}.")  # fmt: skip
            if alias in seen:
                raise invalid(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        outputs = self._run(name, inputs)
        return {alias: outputs[alias] for alias in output_filter} if output_filter else outputs

    def classify(self, signature_name: str, examples: list[bytes]) -> classification_pb2.ClassificationResult:
        name = self._on_examples(signature_name, check_classification, examples)
        outputs = self._run(name, {CLASSIFY_INPUTS: _strings(examples)})
        return _classifications(outputs.get(CLASSES), outputs.get(SCORES), len(examples))

    def regress(self, signature_name: str, examples: list[bytes]) -> regression_pb2.RegressionResult:
        name = self._on_examples(signature_name, check_regression, examples)
        values = self._run(name, {REGRESS_INPUTS: _strings(examples)})[REGRESS_OUTPUTS]
        if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
            raise invalid(f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
                          f"{list(values.shape)}")  # fmt: skip
        if len(values) != len(examples):
            raise invalid(f"Input batch size did not match output batch size: {len(examples)} vs. {len(values)}")
        if values.dtype != np.float32:
            raise invalid(f"Expected output Tensor of DT_FLOAT.  Got: {values.dtype}")
        regressions = [regression_pb2.Regression(value=value) for value in values.ravel().tolist()]
        return regression_pb2.RegressionResult(regressions=regressions)

    def _on_examples(self, signature_name: str, check: Callable[[SignatureDef], None], examples: list[bytes]) -> str:
        """The signature a classify or regress request names, checked as TF Serving checks it before running."""
        name = signature_name or DEFAULT_SIGNATURE
        signature = self.signature(name)
        if signature is None:
            raise invalid(f"No signature was found with the name: {name}")
        check(signature)
        if not examples:
            raise invalid("Input is empty.")
        return name

    def _run(self, name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        function = self.functions.get(name)
        if function is None:  # a SignatureDef with nothing to call, such as __saved_model_init_op
            raise invalid(f"signature {name} cannot be run")
        try:
            outputs = function(**{alias: tf.constant(value) for alias, value in inputs.items()})
        except (TypeError, ValueError) as exc:
            raise invalid(str(exc).splitlines()[0]) from None
        except tf.errors.OpError as exc:
            raise ServingError(Code(exc.error_code), op_message(exc.message)) from None
        return {alias: tensor.numpy() for alias, tensor in outputs.items()}


def op_message(message: str) -> str:
    """An op's error as TF Serving's session run words it (``Input to reshape is …\n\t [[{{node …}}]]``),
    without what an eager call wraps it in: ``Graph execution error: … <stack traces unavailable>``
    before it, `` [Op:__inference_…]`` after."""
    _, marker, rest = message.partition("<stack traces unavailable>\n")
    return re.sub(r" \[Op:__inference_[^\]]*\]$", "", rest if marker else message)


def load(directory: Path, version: int) -> Servable:
    """Load one version directory; raise ServingError with TF Serving's status if it cannot load."""
    graph = _serve_graph(directory)
    try:
        loaded = tf.saved_model.load(str(directory), tags=[tf.saved_model.SERVING])
    except tf.errors.OpError as exc:
        raise ServingError(Code(exc.error_code), exc.message) from None
    except Exception as exc:  # a SavedModel TensorFlow cannot restore, whatever the reason
        raise ServingError(Code.UNKNOWN, f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    return Servable(version, dict(graph.signature_def), dict(loaded.signatures), loaded)


def _serve_graph(directory: Path) -> meta_graph_pb2.MetaGraphDef:
    binary = directory / tf.saved_model.SAVED_MODEL_FILENAME_PB
    text = directory / tf.saved_model.SAVED_MODEL_FILENAME_PBTXT
    saved_model = saved_model_pb2.SavedModel()
    try:
        if binary.is_file():
            saved_model.ParseFromString(binary.read_bytes())
        elif text.is_file():
            text_format.Parse(text.read_text(), saved_model)
        else:
            raise ServingError(Code.NOT_FOUND, f"Could not find SavedModel .pb or .pbtxt at supplied export directory "
                                               f"path: {directory}")  # fmt: skip
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError):
        path = binary if binary.is_file() else text
        raise ServingError(Code.DATA_LOSS, f"Can't parse {path} as binary proto") from None
    except OSError as exc:
        raise ServingError(Code.PERMISSION_DENIED if isinstance(exc, PermissionError) else Code.UNKNOWN,
                           f"{directory}: {exc.strerror}") from None  # fmt: skip
    for graph in saved_model.meta_graphs:
        if tf.saved_model.SERVING in graph.meta_info_def.tags:
            return graph
    raise ServingError(Code.NOT_FOUND, f"Could not find meta graph def matching supplied tags: "
                                       f"{{ {tf.saved_model.SERVING} }}")  # fmt: skip


def _dtype(value: np.ndarray) -> tf.DType:
    return tf.string if value.dtype == object else tf.as_dtype(value.dtype)


def _check_inputs(signature: SignatureDef, inputs: Mapping[str, np.ndarray]) -> None:
    """predict_util.cc's VerifyRequestInputsSize and saved_model's GetInputValues, then the dtypes the graph takes."""
    wanted, sent = set(signature.inputs), set(inputs)
    if len(sent) != len(wanted):
        raise invalid(
            f"input size does not match signature: {len(sent)}!={len(wanted)} len({{{','.join(sorted(sent))}}}) != "
            f"len({{{','.join(sorted(wanted))}}}). Sent extra: {{{','.join(sorted(sent - wanted))}}}. Missing but "
            f"required: {{{','.join(sorted(wanted - sent))}}}."
        )
    missing = sorted(wanted - sent)
    if missing:
        raise invalid(f"Signature input alias: {missing[0]}(feed name: {signature.inputs[missing[0]].name}) not "
                      f"found in request and no default value provided. Inputs expected to be in the request "
                      f"{{{','.join(sorted(sent))}}}, or default input alias set: {{}}")  # fmt: skip
    for index, alias in enumerate(sorted(wanted)):
        expected, got = tf.as_dtype(signature.inputs[alias].dtype), _dtype(inputs[alias])
        if got != expected:
            raise invalid(f"Expects arg[{index}] to be {dtype_name(expected.as_datatype_enum)} but "
                          f"{dtype_name(got.as_datatype_enum)} is provided")  # fmt: skip


def _strings(values: list[bytes]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def check_classification(signature: SignatureDef) -> None:
    """What classifier.cc's PreProcessClassification requires of a signature."""
    if len(signature.inputs) != 1:
        raise invalid("Expected one input Tensor.")
    if len(signature.outputs) not in (1, 2):
        raise invalid(f"Expected one or two output Tensors, found {len(signature.outputs)}")
    if CLASSIFY_INPUTS not in signature.inputs:
        raise invalid(f"No classification inputs found in SignatureDef: {signature}")
    if CLASSES not in signature.outputs and SCORES not in signature.outputs:
        raise invalid(f'Expected classification signature outputs to contain at least one of "{CLASSES}" or '
                      f'"{SCORES}". Signature was: {signature}')  # fmt: skip


def check_regression(signature: SignatureDef) -> None:
    """What regressor.cc's PreProcessRegression requires of a signature."""
    if len(signature.inputs) != 1:
        raise invalid("Expected one input Tensor.")
    if len(signature.outputs) != 1:
        raise invalid("Expected one output Tensor.")
    if REGRESS_INPUTS not in signature.inputs:
        raise invalid(f"No regression inputs found in SignatureDef: {signature}")
    if REGRESS_OUTPUTS not in signature.outputs:
        raise invalid(f"No regression outputs found in SignatureDef: {signature}")


def _classifications(
    classes: np.ndarray | None, scores: np.ndarray | None, count: int
) -> classification_pb2.ClassificationResult:
    """classifier.cc's PostProcessClassificationResult: [batch, classes] labels and/or float scores."""
    for what, value, dtype in (("classes", classes, object), ("scores", scores, np.float32)):
        if value is None:
            continue
        if value.ndim != 2:
            raise invalid(f"Expected Tensor shape: [batch_size num_classes] but got {list(value.shape)}")
        if value.dtype != dtype:
            raise invalid(f"Expected {what} Tensor of {'DT_STRING' if dtype is object else 'DT_FLOAT'}. Got: "
                          f"{value.dtype}")  # fmt: skip
        if len(value) != count:
            raise invalid(f"Expected {what} output batch size of {count}. Got: {len(value)}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise invalid(f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. "
                      f"{scores.shape[1]}")  # fmt: skip
    width = next(value.shape[1] for value in (classes, scores) if value is not None)
    result = classification_pb2.ClassificationResult()
    for row in range(count):
        entries = result.classifications.add()
        for column in range(width):
            entry = entries.classes.add()
            if classes is not None:
                entry.label = classes[row, column].decode("utf-8", "replace")
            if scores is not None:
                entry.score = float(scores[row, column])
    return result
