"""The pictures of runs and reports: training curves, confusion matrix, ROC and precision-recall curves.

Drawn with matplotlib's object API (``Figure`` and its Agg canvas), never
``pyplot``: no global figure state and no GUI backend, so plotting works in a
pod without a display and from several threads. Each function writes one PNG
and returns its path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

DPI = 110
PANEL = (5.2, 3.6)  # inches per panel
NOT_METRICS = {"epoch", "step", "examples_per_second"}
MOST_CLASS_CURVES = 10  # one-vs-rest curves beyond this many classes are unreadable: none are drawn
MOST_ANNOTATED_CLASSES = 25  # counts written in the confusion matrix's cells up to this many classes


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=DPI)
    return path


LEGEND_COLUMNS = 2


def _legend_below(axes: Any) -> None:
    """The legend under the plot, where it cannot hide a line, in columns no wider than the plot;
    none where nothing was drawn (a class without test examples has no curve)."""
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=LEGEND_COLUMNS, frameon=False)


def _legend_rows(entries: int) -> int:
    return -(-entries // LEGEND_COLUMNS)


def training_curves(history: list[dict[str, Any]], path: Path) -> Path:
    """One panel per metric family (loss; accuracy, AUC, ...), training solid and validation dashed, per epoch.

    ``history`` holds one entry per epoch (at least one), as training writes it.
    """
    names = [k for k in history[0] if k not in NOT_METRICS and not k.startswith("val_")]
    families = [[n for n in names if n.endswith("loss")], [n for n in names if not n.endswith("loss")]]
    families = [family for family in families if family]
    rows = _legend_rows(2 * max(map(len, families)))
    figure = Figure(figsize=(PANEL[0] * len(families), PANEL[1] + 0.3 * rows), layout="constrained")
    for axes, family in zip(figure.subplots(1, len(families), squeeze=False)[0], families, strict=True):
        for index, name in enumerate(family):
            for split, (prefix, label, style) in enumerate((("", "training", "-"), ("val_", "validation", "--"))):
                epochs = [h for h in history if h.get(prefix + name) is not None]
                if epochs:
                    x, y = [h["epoch"] for h in epochs], [h[prefix + name] for h in epochs]
                    axes.plot(x, y, style, marker="o", markersize=4, color=f"C{2 * index + split}",
                              label=f"{name} ({label})")  # fmt: skip
        is_loss = family[0].endswith("loss")
        title = " / ".join(family)
        axes.set_title(title)
        axes.set_xlabel("epoch")
        axes.set_ylabel(f"{title} ({'lower' if is_loss else 'higher'} is better)")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(history) == 1:  # one point: an axis around it, not a sliver of one epoch
            axes.set_xlim(history[0]["epoch"] - 1, history[0]["epoch"] + 1)
        if not is_loss:
            axes.set_ylim(min(0.0, axes.get_ylim()[0]), 1.02)
        axes.grid(alpha=0.3)
        _legend_below(axes)
    return _save(figure, path)


def confusion_matrix(matrix: list[list[int]], classes: list[str], path: Path) -> Path:
    """Counts per (true, predicted) class; each row shaded by its share, so small classes read as well as large."""
    counts = np.asarray(matrix)
    n = len(classes)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = min(max(4.5, 0.45 * n + 2.5), 20)
    figure = Figure(figsize=(side + 1, side), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, shrink=0.8, label="share of the true class")
    names = [c[:16] for c in classes]
    slanted = max(map(len, names)) > 2  # "cat", "negative": slanted so that neighbours do not overlap
    axes.set_xticks(range(n), names, rotation=45 if slanted else 0, ha="right" if slanted else "center")
    axes.set_yticks(range(n), names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(f"confusion matrix ({int(counts.sum())} examples)")
    if n <= MOST_ANNOTATED_CLASSES:
        for (row, column), count in np.ndenumerate(counts):
            colour = "white" if shares[row, column] > 0.5 else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=9)
    return _save(figure, path)


def _curves(scores: np.ndarray, positives: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate, precision) at every distinct score, highest first."""
    order = np.argsort(-scores, kind="mergesort")
    ranked, hits = scores[order], positives[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # ties move the curve together
    tp = np.cumsum(hits)[last_of_tie]
    fp = last_of_tie + 1 - tp
    return fp / max(fp[-1], 1), tp / max(tp[-1], 1), tp / (tp + fp)


def roc_pr_curves(probabilities: np.ndarray, labels: np.ndarray, classes: Sequence[str], path: Path) -> Path | None:
    """ROC and precision-recall curves: of the second class for two, one-vs-rest for a few; None beyond that."""
    n = len(classes)
    if n < 2 or n > MOST_CLASS_CURVES:
        return None
    shown = [1] if n == 2 else list(range(n))
    height = PANEL[1] + 0.3 * _legend_rows(len(shown) + 1)  # the chance line has an entry too
    figure = Figure(figsize=(PANEL[0] * 2, height), layout="constrained")
    roc, pr = figure.subplots(1, 2)
    for index in shown:
        positives = labels == index
        if not positives.any() or positives.all():
            continue
        fpr, tpr, precision = _curves(probabilities[:, index], positives)
        fpr, tpr, recall = np.r_[0, fpr], np.r_[0, tpr], np.r_[0, tpr]
        precision = np.r_[1, precision]
        area = float(np.trapezoid(tpr, fpr))
        average_precision = float(np.sum(np.diff(recall) * precision[1:]))
        name = classes[index] if n > 2 else f"{classes[index]} vs {classes[0]}"
        roc.plot(fpr, tpr, color=f"C{index % 10}", label=f"{name} (AUC {area:.3f})")
        pr.step(recall, precision, where="pre", color=f"C{index % 10}", label=f"{name} (AP {average_precision:.3f})")
    roc.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    roc.set(title="ROC curve", xlabel="false positive rate", ylabel="true positive rate")
    pr.set(title="precision-recall curve", xlabel="recall", ylabel="precision")
    for axes in (roc, pr):
        axes.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.02))
        axes.grid(alpha=0.3)
        _legend_below(axes)
    return _save(figure, path)
