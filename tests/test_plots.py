"""The plots: PNGs of the right shape, drawn headless; the ROC curve's area is the metrics' AUC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dlpipe import plots
from dlpipe.evaluate.metrics import compute

HISTORY = [{"epoch": e, "step": 10 * e, "loss": 1 / e, "accuracy": 1 - 0.5 / e, "examples_per_second": 100.0,
            "val_loss": 1.2 / e, "val_accuracy": 1 - 0.6 / e} for e in (1, 2, 3)]  # fmt: skip


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_training_curves_one_panel_per_family(tmp_path: Path) -> None:
    two = _size(plots.training_curves(HISTORY, tmp_path / "both.png"))
    only_loss = [{k: v for k, v in h.items() if "accuracy" not in k} for h in HISTORY]
    one = _size(plots.training_curves(only_loss, tmp_path / "loss.png"))
    assert two[0] == pytest.approx(2 * one[0], rel=0.01), "a panel each for loss and accuracy"
    assert _size(plots.training_curves(HISTORY[:1], tmp_path / "one-epoch.png")) == two


def test_confusion_matrix_grows_with_the_classes(tmp_path: Path) -> None:
    small = _size(plots.confusion_matrix([[3, 1], [0, 4]], ["cat", "dog"], tmp_path / "2.png"))
    matrix = np.eye(30, dtype=int).tolist()
    large = _size(plots.confusion_matrix(matrix, [f"class {i}" for i in range(30)], tmp_path / "30.png"))
    assert large[0] > small[0] and large[1] > small[1]


def test_roc_and_pr_where_they_apply(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 100)
    scores = np.clip(labels * 0.3 + rng.random(100) * 0.7, 0, 1)
    binary = np.stack([1 - scores, scores], axis=1)
    assert plots.roc_pr_curves(binary, labels, ["no", "yes"], tmp_path / "2.png") == tmp_path / "2.png"
    many = rng.dirichlet(np.ones(11), 50)
    assert plots.roc_pr_curves(many, rng.integers(0, 11, 50), [str(i) for i in range(11)], tmp_path / "x.png") is None
    assert not (tmp_path / "x.png").exists()


def test_the_roc_curve_area_is_the_metrics_auc() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 80)
    scores = np.round(rng.random(80), 1)  # ties on purpose
    fpr, tpr, _precision = plots._curves(scores, labels == 1)
    area = np.trapezoid(np.r_[0, tpr], np.r_[0, fpr])
    assert area == pytest.approx(compute(np.stack([1 - scores, scores], 1), labels, ["a", "b"])["auc"])


def test_an_empty_panel_gets_no_legend_and_no_warning() -> None:
    """A class without test examples draws no curve: matplotlib would warn on stderr for its legend."""
    import warnings

    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots._legend_below(axes)
    assert axes.get_legend() is None
    plt.close(figure)
