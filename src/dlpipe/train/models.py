"""Models: built-in ones shaped by the manifest, or the user's ``package.module:function``.

Every model takes a dict of inputs named like the dataset's features (images
already decoded to float [size, size, 3], a table's holes filled, plus its
0/1 missing indicators: :func:`dlpipe.records.model_features`) and returns
class probabilities (float32 even under mixed precision). A built-in model
that does not fit the dataset says which ones do.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from dlpipe import log
from dlpipe.errors import ConfigError, DlpipeError
from dlpipe.records import is_encoded_image, model_features

logger = log.get("train")
TEXT_HINT = "for text-bigru, ingest the raw text: class folders of .txt files, or a table with --text-column"


def keras_inputs(manifest: dict[str, Any], image_size: int) -> dict[str, keras.KerasTensor]:
    inputs = {}
    for name, spec in model_features(manifest).items():
        if is_encoded_image(name, manifest):
            inputs[name] = keras.Input(shape=(image_size, image_size, 3), name=name, dtype="float32")
        else:
            dtype = {"float32": "float32", "int64": "int64", "string": "string"}[spec["dtype"]]
            inputs[name] = keras.Input(shape=tuple(spec["shape"]), name=name, dtype=dtype)
    return inputs


def _head(x: Any, classes: int) -> Any:
    # float32 output: softmax in float16 loses probability mass.
    return keras.layers.Dense(classes, activation="softmax", dtype="float32", name="probabilities")(x)


def _numeric_and_categorical(inputs: dict[str, Any], sample: dict[str, np.ndarray]) -> list[Any]:
    parts = []
    for name, tensor in inputs.items():
        if tensor.dtype == "string":
            lookup = keras.layers.StringLookup(output_mode="one_hot", name=f"{name}_lookup")
            lookup.adapt(sample[name])
            parts.append(lookup(tensor))
        else:
            flat = keras.layers.Flatten()(tensor) if len(tensor.shape) > 2 else tensor
            if len(flat.shape) == 1:
                flat = keras.layers.Reshape((1,))(flat)
            norm = keras.layers.Normalization(name=f"{name}_norm")
            norm.adapt(np.asarray(sample[name], dtype=np.float32).reshape(len(sample[name]), -1))
            parts.append(norm(keras.ops.cast(flat, "float32")))
    return parts


def _id_sequences(inputs: dict[str, Any]) -> list[str]:
    """Integer features holding several values per example: token ids, most likely."""
    return [name for name, t in inputs.items() if t.dtype == "int64" and len(t.shape) > 1]


def mlp(inputs: dict[str, Any], classes: int, sample: dict[str, np.ndarray], **_: Any) -> keras.Model:
    for name in _id_sequences(inputs):
        logger.warning("--model mlp treats the %d integers of %s as numbers, not as token ids (words): word order "
                       "and meaning are lost; %s", inputs[name].shape[1], name, TEXT_HINT)  # fmt: skip
    parts = _numeric_and_categorical(inputs, sample)
    x = keras.layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
    for width in (128, 64):
        x = keras.layers.Dense(width, activation="relu")(x)
        x = keras.layers.Dropout(0.1)(x)
    return keras.Model(inputs, _head(x, classes), name="mlp")


def _images(inputs: dict[str, Any]) -> list[str]:
    return [n for n, t in inputs.items() if len(t.shape) in (3, 4) and t.dtype != "string"]


def _texts(inputs: dict[str, Any]) -> list[str]:
    return [n for n, t in inputs.items() if t.dtype == "string" and len(t.shape) == 1]


def _describe(inputs: dict[str, Any]) -> str:
    """``x (int64 [200]), age (float32)``: the features as a model sees them."""
    return ", ".join(f"{n} ({t.dtype}{f' {list(t.shape[1:])}' if len(t.shape) > 1 else ''})" for n, t in inputs.items())


def _refuse(model: str, needs: str, inputs: dict[str, Any]) -> ConfigError:
    """The error of a built-in model that does not fit: what it needs, what the data has, which models fit."""
    fitting = [name for name, finds in _NEEDS.items() if len(finds(inputs)) == 1] + ["mlp"]
    hint = f"use --model {' or '.join(fitting)}"
    if _id_sequences(inputs):
        hint += f", which reads token ids as numbers; {TEXT_HINT}"
    return ConfigError(f"--model {model} needs {needs}; the dataset has {_describe(inputs)}", hint)


def _image_input(inputs: dict[str, Any], model: str) -> tuple[str, Any]:
    images = _images(inputs)
    if len(images) != 1:
        raise _refuse(model, "one image feature (a 2-D or 3-D float array)", inputs)
    name, tensor = images[0], inputs[images[0]]
    x = keras.layers.Reshape((*tensor.shape[1:], 1))(tensor) if len(tensor.shape) == 3 else tensor
    if "int" in str(tensor.dtype):  # pixels as stored (mnist.npz's uint8 0..255): floats 0..1, as the layers want
        x = keras.layers.Rescaling(1 / 255)(x)
    return name, x


def cnn(inputs: dict[str, Any], classes: int, **_: Any) -> keras.Model:
    name, x = _image_input(inputs, "cnn")
    for filters in (32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        if x.shape[1] >= 4:
            x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    return keras.Model({name: inputs[name]}, _head(x, classes), name="cnn")


def resnet50(inputs: dict[str, Any], classes: int, **_: Any) -> keras.Model:
    """keras.applications.ResNet50 from scratch (no downloaded weights)."""
    name, x = _image_input(inputs, "resnet50")
    if x.shape[-1] == 1:
        x = keras.layers.Concatenate()([x, x, x])
    if x.shape[1] < 32 or x.shape[2] < 32:
        x = keras.layers.Resizing(32, 32)(x)
    backbone = keras.applications.ResNet50(
        weights=None, include_top=False, input_shape=tuple(x.shape[1:]), pooling="avg"
    )
    return keras.Model({name: inputs[name]}, _head(backbone(x), classes), name="resnet50")


def text_bigru(inputs: dict[str, Any], classes: int, sample: dict[str, np.ndarray], **_: Any) -> keras.Model:
    """TextVectorization + embedding + bidirectional GRU; raw strings in, so preprocessing travels with the model."""
    texts = _texts(inputs)
    if len(texts) != 1:
        raise _refuse("text-bigru", "one text feature (a string per example)", inputs)
    name, tensor = texts[0], inputs[texts[0]]
    vectorize = keras.layers.TextVectorization(max_tokens=20_000, output_sequence_length=200, name="vectorize")
    vectorize.adapt(sample[name])
    x = vectorize(tensor)
    x = keras.layers.Embedding(20_000, 64, mask_zero=True)(x)
    x = keras.layers.Bidirectional(keras.layers.GRU(64))(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    return keras.Model({name: tensor}, _head(x, classes), name="text_bigru")


# What each model other than mlp (which takes anything) needs exactly one of.
_NEEDS: dict[str, Callable[[dict[str, Any]], list[str]]] = {"cnn": _images, "resnet50": _images, "text-bigru": _texts}
_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "mlp": mlp,
    "cnn": cnn,
    "resnet50": resnet50,
    "text-bigru": text_bigru,
}


def _user_function(spec: str, model_path: str | None) -> Callable[..., Any]:
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise ConfigError(f"--model {spec!r} is neither built in ({', '.join(_BUILDERS)}) nor package.module:function")
    if model_path and model_path not in sys.path:
        sys.path.insert(0, model_path)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"--model {spec}: cannot import {module_name}: {exc}", "set --model-path to its folder"
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ConfigError(f"--model {spec}: {module_name} has no function {function_name}")
    return function


def build(
    spec: str, manifest: dict[str, Any], sample: dict[str, np.ndarray], image_size: int, model_path: str | None = None
) -> keras.Model:
    """The Keras model for ``spec``, with inputs and class count from the manifest.

    A user function is called as ``function(inputs=..., num_classes=..., manifest=...)``
    (keyword arguments) and must return a ``keras.Model``.
    """
    inputs = keras_inputs(manifest, image_size)
    classes = len(manifest["label"]["classes"])
    if spec in _BUILDERS:
        return _BUILDERS[spec](inputs, classes, sample=sample)
    function = _user_function(spec, model_path)
    try:
        model = function(inputs=inputs, num_classes=classes, manifest=manifest)
    except Exception as exc:
        raise DlpipeError(f"--model {spec} raised {type(exc).__name__}: {exc}") from None
    if not isinstance(model, keras.Model):
        raise DlpipeError(f"--model {spec} returned {type(model).__name__}, not a keras.Model")
    return model
