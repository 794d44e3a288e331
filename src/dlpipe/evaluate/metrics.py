"""Classification metrics from probabilities and labels (numpy only)."""

from __future__ import annotations

from typing import Any

import numpy as np

EPSILON = 1e-7


def _auc(scores: np.ndarray, positives: np.ndarray) -> float | None:
    """ROC AUC as the Mann-Whitney statistic (ties count half)."""
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if not n_pos or not n_neg:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def compute(probabilities: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict[str, Any]:
    n = len(classes)
    predicted = probabilities.argmax(axis=1)
    picked = probabilities[np.arange(len(labels)), labels]
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = {}
    for index, name in enumerate(classes):
        tp = confusion[index, index]
        precision = tp / confusion[:, index].sum() if confusion[:, index].sum() else 0.0
        recall = tp / confusion[index].sum() if confusion[index].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": float(precision), "recall": float(recall), "f1": float(f1),
                           "support": int(confusion[index].sum())}  # fmt: skip
    result: dict[str, Any] = {
        "examples": len(labels),
        "loss": float(-np.log(np.clip(picked, EPSILON, 1.0)).mean()),
        "accuracy": float((predicted == labels).mean()),
        "macro_precision": float(np.mean([c["precision"] for c in per_class.values()])),
        "macro_recall": float(np.mean([c["recall"] for c in per_class.values()])),
        "macro_f1": float(np.mean([c["f1"] for c in per_class.values()])),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
    }
    if n == 2:
        result["auc"] = _auc(probabilities[:, 1], labels == 1)
    elif n > 2:
        k = min(5, n - 1)
        top = np.argsort(-probabilities, axis=1)[:, :k]
        result[f"top_{k}_accuracy"] = float((top == labels[:, None]).any(axis=1).mean())
    return result
