"""Every built-in model trains and exports; the export, called like TF Serving calls
it (raw features into serving_default), agrees with the in-memory model.

ResNet50 is built and exported but not trained: tracing its training step costs
half a minute whatever the batch size, and its training would run the loop that
the other models here run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from dlpipe.export import verify_export
from dlpipe.layout import ExportPaths, Layout
from dlpipe.train import data
from dlpipe.train.trainer import Trainer
from tests.tooling.settings import built_trainer, configured

CASES = [
    ("digits", "mlp", {}),
    ("digits", "cnn", {}),
    ("iris", "mlp", {}),
    ("pets", "cnn", {"image_size": 32, "batch_size": 4}),
    ("imdb", "text-bigru", {"batch_size": 4}),
    ("income", "mlp", {}),
    ("tokens", "mlp", {}),
]


@pytest.mark.parametrize(("dataset", "model", "extra"), CASES, ids=[f"{d}-{m}" for d, m, _ in CASES])
def test_trains_exports_and_serves_the_same_predictions(volume: Path, dataset: str, model: str, extra: dict) -> None:
    run_id = f"{dataset}-{model}"
    settings = {f"train__{key}": value for key, value in extra.items()}
    config = configured(train__dataset=dataset, train__model=model, train__max_steps=3, train__save_steps=2,
                        run_id=run_id, progress_interval=3600, **settings)  # fmt: skip
    trainer = built_trainer(volume, config)
    history = trainer.fit()
    check_export(trainer, trainer.export(history), steps=3)


def test_resnet50_exports_and_serves_the_same_predictions(volume: Path) -> None:
    config = configured(train__dataset="digits", train__model="resnet50", train__batch_size=8, run_id="digits-resnet50",
                        progress_interval=3600)  # fmt: skip
    trainer = built_trainer(volume, config)
    assert trainer.model.name == "resnet50" and trainer.model.count_params() > 23_000_000
    check_export(trainer, trainer.export([]), steps=0)


def check_export(trainer: Trainer, export: ExportPaths, steps: int) -> None:
    """The export is whole, serves what the in-memory model answers, verifies, and carries its lineage."""
    opts, dataset, model = trainer.opts, trainer.opts.dataset, trainer.opts.model
    assert int(trainer.step.numpy()) == steps
    assert export.is_complete()
    served = tf.saved_model.load(str(export.dir)).signatures["serving_default"]
    raw = trainer.raw_sample  # exactly what a client sends: encoded images, raw text
    assert set(served.structured_input_signature[1]) == set(raw)
    expected = trainer.model(data.model_inputs({k: tf.constant(v) for k, v in raw.items()}, trainer.manifest,
                                               opts.image_size), training=False).numpy()  # fmt: skip
    answer = served(**{k: tf.constant(v) for k, v in raw.items()})
    got = answer["probabilities"].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    classes = trainer.manifest["label"]["classes"]
    assert got.shape == (len(next(iter(raw.values()))), len(classes))
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-4)
    check_answers(answer, classes)
    assert verify_export(export).endswith("; classification agrees")

    lineage = json.loads(export.lineage.read_text())
    assert lineage["run_id"] == f"{dataset}-{model}" and lineage["dataset"]["name"] == dataset
    assert lineage["dataset"]["shards"]["train"] == [s["sha256"] for s in trainer.manifest["splits"]["train"]["shards"]]
    assert lineage["hyperparameters"]["model"] == model and lineage["steps"] == steps
    warmup = next(iter(tf.data.TFRecordDataset(str(export.warmup))))
    request = prediction_log_pb2.PredictionLog.FromString(warmup.numpy()).predict_log.request
    assert request.model_spec.signature_name == "serving_default" and set(request.inputs) == set(raw)


def check_answers(answer: dict[str, tf.Tensor], classes: list[str]) -> None:
    """The top k predictions, best first, as names, ids and scores that agree with the probabilities."""
    probabilities, ids = answer["probabilities"].numpy(), answer["class_ids"].numpy()
    k = min(5, len(classes))
    assert ids.shape == (len(probabilities), k) and ids.dtype == np.int64
    np.testing.assert_array_equal(ids[:, 0], probabilities.argmax(axis=1))
    np.testing.assert_allclose(answer["scores"].numpy(), np.take_along_axis(probabilities, ids, axis=1))
    assert (np.diff(answer["scores"].numpy(), axis=1) <= 0).all(), "best first"
    names = answer["classes"].numpy()
    assert names.tolist() == [[classes[i].encode() for i in row] for row in ids.tolist()]


def test_run_outputs(volume: Path) -> None:
    run = Layout(volume).run_paths("digits-mlp")
    history = json.loads(run.history.read_text())
    assert [h["step"] for h in history] == [3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history[0])
    assert json.loads(run.config.read_text())["hyperparameters"]["max_steps"] == 3
    assert list(run.logs.glob("events.out.tfevents.*"))
    assert run.curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
