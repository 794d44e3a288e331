"""``dlpipe export verify`` against hand-made SavedModels: each way an export can break the contract, by its message.

The exports are small tf.Modules (no training), put where a run's export
lives; the good one is built with the same helpers training uses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from dlpipe.export import write_warmup_requests
from dlpipe.layout import Layout
from dlpipe.train.export import _mark_classify, answers
from tests.tooling.sample_data import run_cli

CLASSES = ["ant", "bee", "cat"]
SPEC = {"x": tf.io.FixedLenFeature([], tf.float32)}


def probabilities(x: tf.Tensor) -> tf.Tensor:
    return tf.stack([x, 1 - x, tf.zeros_like(x)], axis=1)


def good(x: tf.Tensor) -> dict[str, tf.Tensor]:
    return answers(probabilities(x), CLASSES)


def classify_with(serve: Callable[[tf.Tensor], dict[str, tf.Tensor]]) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
    def classify(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = serve(tf.io.parse_example(inputs, SPEC)["x"])
        return {"classes": outputs["classes"], "scores": outputs["scores"]}

    return classify


def save(root: Path, run_id: str, serve: Callable, classify: Callable | None, mark: bool = True) -> None:
    export = Layout(root).run_paths(run_id).export
    signatures = {"serving_default": tf.function(serve, input_signature=[tf.TensorSpec([None], tf.float32, name="x")])}
    if classify is not None:
        examples = tf.TensorSpec([None], tf.string, name="inputs")
        signatures["classification"] = tf.function(classify, input_signature=[examples])
    tf.saved_model.save(tf.Module(), str(export.dir), signatures=signatures)
    if mark and classify is not None:
        _mark_classify(export)
    write_warmup_requests(export, {"x": np.array([0.1, 0.9], np.float32)}, "toy")


def only_probabilities(x: tf.Tensor) -> dict[str, tf.Tensor]:
    return {"probabilities": probabilities(x)}


def int32_ids(x: tf.Tensor) -> dict[str, tf.Tensor]:
    return {**good(x), "class_ids": tf.cast(good(x)["class_ids"], tf.int32)}


def reversed_classes(x: tf.Tensor) -> dict[str, tf.Tensor]:
    return {**good(x), "classes": tf.reverse(good(x)["classes"], axis=[1])}


def failing(x: tf.Tensor) -> dict[str, tf.Tensor]:
    with tf.control_dependencies([tf.debugging.assert_less(x, 0.5, message="x is too large")]):
        return good(tf.identity(x))


CASES = {
    "good": (good, classify_with(good), True, 0, "toy: ok, serving_default(x) -> probabilities[2, 3], top 3 "
             "classes/class_ids/scores (first: bee); classification agrees"),
    "old": (only_probabilities, None, True, 1, "serving_default returns ['probabilities'], not classes, class_ids, "
            "scores (export it again with this version of dlpipe: dlpipe train)"),
    "int32": (int32_ids, classify_with(good), True, 1, "serving_default output class_ids is int32 [2, 3], not int64 "
              "[2, 3] (export it again with this version of dlpipe: dlpipe train)"),
    "no-classify": (good, None, True, 1, "no classification signature (TF Serving's Classify API) (export it again "
                    "with this version of dlpipe: dlpipe train)"),
    "predict-method": (good, classify_with(good), False, 1, "classification signature method is "
                       "tensorflow/serving/predict, not tensorflow/serving/classify (TF Serving's Classify API needs "
                       "it) (export it again with this version of dlpipe: dlpipe train)"),
    "disagree": (good, classify_with(reversed_classes), True, 1, "classification and serving_default disagree on the "
                 "warm-up examples"),
    "fails": (failing, classify_with(good), True, 1, "the warm-up request fails on serving_default: "),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_export_verify_names_what_is_wrong(tmp_path: Path, case: str, capsys: pytest.CaptureFixture) -> None:
    serve, classify, mark, code, message = CASES[case]
    run_id = "toy" if case == "good" else case
    save(tmp_path, run_id, serve, classify, mark)
    assert run_cli("export", "verify", run_id, "--root", str(tmp_path)) == code
    captured = capsys.readouterr()
    if code == 0:
        assert captured.out.strip() == message
    else:
        err = captured.err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
