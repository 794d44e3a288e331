"""Metrics and the blessing table, on numbers worked out by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dlpipe.errors import ConfigError
from dlpipe.evaluate.blessing import Threshold, decide, describe
from dlpipe.evaluate.metrics import compute


def test_metrics_on_a_known_confusion() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.1, 0.7, 0.2], [0.1, 0.8, 0.1],
                              [0.1, 0.6, 0.3], [0.3, 0.3, 0.4], [0.5, 0.2, 0.3]])  # fmt: skip
    m = compute(probabilities, labels, ["a", "b", "c"])
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["b"] == {
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
        "support": 2,
    }
    assert m["loss"] == pytest.approx(-np.mean(np.log([0.8, 0.1, 0.8, 0.6, 0.4, 0.3])))
    assert m["top_2_accuracy"] == pytest.approx(5 / 6)


def test_auc_matches_counting_pairs() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60)
    scores = np.round(rng.random(60), 1)  # ties on purpose
    probabilities = np.stack([1 - scores, scores], axis=1)
    pairs = [(p, n) for p, n in itertools.product(scores[labels == 1], scores[labels == 0])]
    expected = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    assert compute(probabilities, labels, ["no", "yes"])["auc"] == pytest.approx(expected)


CANDIDATE = {"accuracy": 0.90, "loss": 0.30}
BETTER_BASELINE = {"accuracy": 0.95, "loss": 0.20}
WORSE_BASELINE = {"accuracy": 0.80, "loss": 0.50}


@pytest.mark.parametrize(
    ("absolute", "change", "baseline", "blessed"),
    [
        (["accuracy>=0.85"], [], None, True),  # threshold met, no baseline
        (["accuracy>=0.95"], [], None, False),  # threshold missed
        (["loss<=0.25"], [], None, False),  # lower-is-better missed
        ([], ["accuracy>=0.0"], WORSE_BASELINE, True),  # beats the served model
        ([], ["accuracy>=0.0"], BETTER_BASELINE, False),  # worse than the served model
        ([], ["accuracy>=-0.1"], BETTER_BASELINE, True),  # allowed to be slightly worse
        ([], ["loss<=0.0"], WORSE_BASELINE, True),  # loss went down
        ([], ["accuracy>=0.0"], None, True),  # no baseline: change checks pass
        (["accuracy>=0.85"], ["accuracy>=0.0"], BETTER_BASELINE, False),  # one of two fails
    ],
)
def test_blessing_table(absolute: list[str], change: list[str], baseline: dict | None, blessed: bool) -> None:
    decision = decide(CANDIDATE, baseline, [Threshold.parse(t, "--threshold") for t in absolute],
                      [Threshold.parse(t, "--change-threshold") for t in change], False)  # fmt: skip
    assert decision["blessed"] is blessed
    assert len(decision["checks"]) == len(absolute) + len(change)
    for check in decision["checks"]:
        assert {"metric", "kind", "value", "baseline", "threshold", "op", "passed"} <= set(check)


def test_no_thresholds_means_no_blessing_unless_asked() -> None:
    assert decide(CANDIDATE, None, [], [], False)["blessed"] is False
    assert "--bless-without-thresholds" in decide(CANDIDATE, None, [], [], False)["reason"]
    assert decide(CANDIDATE, None, [], [], True)["blessed"] is True


def test_bless_without_thresholds_skips_even_failing_ones() -> None:
    decision = decide(CANDIDATE, None, [Threshold.parse("accuracy>=0.99", "--threshold")], [], True)
    assert decision == {"blessed": True, "reason": "blessed without checking thresholds, as asked", "checks": []}


def test_checks_read_as_lines_and_a_change_check_shows_the_change() -> None:
    candidate, baseline = {"accuracy": 0.58}, {"accuracy": 0.93}
    decision = decide(candidate, baseline, [Threshold.parse("accuracy>=0.8", "--threshold")],
                      [Threshold.parse("accuracy>=-0.01", "--change-threshold")], False)  # fmt: skip
    lines = [describe(check) for check in decision["checks"]]
    assert lines == ["accuracy 0.58 >= 0.8: FAIL", "change accuracy -0.35 (0.58 vs baseline 0.93) >= -0.01: FAIL"]
    assert decision["reason"] == "; ".join(lines)
    no_baseline = decide(candidate, None, [], [Threshold.parse("accuracy>=0", "--change-threshold")], False)
    assert describe(no_baseline["checks"][0]) == "change accuracy (no published baseline yet) >= 0: pass"


@pytest.mark.parametrize("text", ["accuracy>=0.9", "accuracy >= 0.9", " accuracy>= .9 ", "accuracy >=9e-1"])
def test_thresholds_may_have_spaces(text: str) -> None:
    assert Threshold.parse(text, "--threshold") == Threshold("accuracy", ">=", 0.9)


@pytest.mark.parametrize(
    "text", ["accuracy > 0.9", "accuracy=0.9", "accuracy>=0.9.1", "accuracy>=", "Accuracy>=1", "acuracy>=0.9"]
)
def test_bad_thresholds(text: str) -> None:
    with pytest.raises(ConfigError, match="is not allowed: write METRIC>=VALUE or METRIC<=VALUE"):
        Threshold.parse(text, "--threshold")


def test_threshold_on_a_metric_the_model_does_not_have() -> None:
    with pytest.raises(ConfigError, match="unknown metric 'auc'"):
        decide(CANDIDATE, None, [Threshold.parse("auc>=0.9", "--threshold")], [], False)
