"""Scoring an export through its serving signature, exactly as TF Serving calls it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlpipe.errors import DlpipeError
from dlpipe.export import PROBABILITIES, load_signature
from dlpipe.layout import ExportPaths
from dlpipe.records import input_features, raw_batches

BATCH = 256


def _check_inputs(export: ExportPaths, signature: Any, manifest: dict[str, Any]) -> None:
    """The signature must take the dataset's features, with the same dtypes."""
    expected = {name: spec["dtype"] for name, spec in input_features(manifest).items()}
    actual = {name: spec.dtype.name for name, spec in signature.structured_input_signature[1].items()}
    if expected != actual:
        want = ", ".join(f"{k}:{v}" for k, v in sorted(expected.items()))
        got = ", ".join(f"{k}:{v}" for k, v in sorted(actual.items()))
        raise DlpipeError(f"{export.dir}: the signature takes ({got}) but the dataset has ({want})",
                          "evaluate on the dataset the model was trained on (--dataset)")  # fmt: skip


def score(export: ExportPaths, directory: Path, manifest: dict[str, Any], split: str) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) for every example of the split."""
    _loaded, signature = load_signature(export)  # keep the loaded object alive while calling
    _check_inputs(export, signature, manifest)
    classes = len(manifest["label"]["classes"])
    probabilities, labels = [], []
    for features, label in raw_batches(directory, manifest, split, BATCH):
        out = signature(**features)[PROBABILITIES].numpy()
        if out.shape[1] != classes:
            raise DlpipeError(f"{export.dir} predicts {out.shape[1]} classes; the dataset has {classes}")
        probabilities.append(out)
        labels.append(label.numpy())
    return np.concatenate(probabilities), np.concatenate(labels)
