"""Scoring an export through its serving signature, exactly as TF Serving calls it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from dlpipe.errors import DlpipeError
from dlpipe.train.data import DTYPES, input_features, raw_batches
from dlpipe.train.export import SIGNATURE

BATCH = 256


def load_signature(export: Path, manifest: dict[str, Any]) -> Any:
    """The export's serving signature, checked against the dataset's features."""
    try:
        loaded = tf.saved_model.load(str(export))
    except (OSError, ValueError, tf.errors.OpError) as exc:
        raise DlpipeError(f"cannot load the SavedModel at {export}: {str(exc).splitlines()[0]}") from None
    if SIGNATURE not in loaded.signatures:
        raise DlpipeError(f"{export} has no {SIGNATURE} signature")
    signature = loaded.signatures[SIGNATURE]
    expected = {name: DTYPES[spec["dtype"]] for name, spec in input_features(manifest).items()}
    actual = {name: spec.dtype for name, spec in signature.structured_input_signature[1].items()}
    if expected != actual:
        want = ", ".join(f"{k}:{v.name}" for k, v in sorted(expected.items()))
        got = ", ".join(f"{k}:{v.name}" for k, v in sorted(actual.items()))
        raise DlpipeError(f"{export}: the signature takes ({got}) but the dataset has ({want})",
                          "evaluate on the dataset the model was trained on (--dataset)")  # fmt: skip
    return loaded, signature


def score(export: Path, directory: Path, manifest: dict[str, Any], split: str) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) for every example of the split."""
    _loaded, signature = load_signature(export, manifest)  # keep the loaded object alive while calling
    probabilities, labels = [], []
    for features, label in raw_batches(directory, manifest, split, BATCH):
        out = signature(**features)["probabilities"].numpy()
        if out.shape[1] != len(manifest["label"]["classes"]):
            raise DlpipeError(
                f"{export} predicts {out.shape[1]} classes; the dataset has {len(manifest['label']['classes'])}"
            )
        probabilities.append(out)
        labels.append(label.numpy())
    return np.concatenate(probabilities), np.concatenate(labels)
