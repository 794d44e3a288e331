"""The models directory as TF Serving sees it: versions appear when published, go when removed."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlpipe import log
from dlpipe.errors import DlpipeError
from dlpipe.export import SIGNATURE
from dlpipe.layout import Layout

logger = log.get("serving")


@dataclass
class Servable:
    version: int
    loaded: Any  # keeps the SavedModel alive
    signature: Any

    @property
    def inputs(self) -> dict[str, Any]:
        return {name: spec.dtype for name, spec in self.signature.structured_input_signature[1].items()}

    def predict(self, columns: dict[str, Any]) -> dict[str, np.ndarray]:
        import tensorflow as tf

        unknown = set(columns) - set(self.inputs)
        missing = set(self.inputs) - set(columns)
        if unknown or missing:
            raise DlpipeError(f"inputs {sorted(columns)} do not match the signature's {sorted(self.inputs)}")
        try:
            tensors = {name: tf.constant(values, dtype=self.inputs[name]) for name, values in columns.items()}
            outputs = self.signature(**tensors)
        except (TypeError, ValueError, tf.errors.OpError) as exc:
            raise DlpipeError(f"the model rejected the request: {str(exc).splitlines()[0]}") from None
        return {name: value.numpy() for name, value in outputs.items()}


class Repository:
    """Loads every published version of one model; ``refresh`` picks up changes."""

    def __init__(self, layout: Layout, model: str) -> None:
        self.layout, self.model = layout, model
        self._servables: dict[int, Servable] = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        import tensorflow as tf

        published = set(self.layout.model_versions(self.model))
        for version in sorted(published - set(self._servables)):
            loaded = tf.saved_model.load(str(self.layout.model_version_dir(self.model, version)))
            with self._lock:
                self._servables[version] = Servable(version, loaded, loaded.signatures[SIGNATURE])
            logger.info("%s version %d is available", self.model, version)
        with self._lock:
            for version in set(self._servables) - published:
                del self._servables[version]
                logger.info("%s version %d was unloaded", self.model, version)

    def versions(self) -> list[int]:
        with self._lock:
            return sorted(self._servables)

    def get(self, version: int | None = None) -> Servable:
        with self._lock:
            if not self._servables:
                raise LookupError(f"model {self.model} has no available version")
            chosen = max(self._servables) if version is None else version
            if chosen not in self._servables:
                raise LookupError(f"model {self.model} has no available version {chosen}")
            return self._servables[chosen]
