"""The training loop: one code path for one device, several GPUs and several workers.

A custom loop under ``strategy.run`` (Keras 3 ``fit`` is broken under
MultiWorkerMirroredStrategy, keras-team/keras#20585). Each call into the
compiled step runs up to ``train.steps_per_execution`` steps, cut short so that
a call ends exactly at every checkpoint (each ``save_steps`` and each epoch's
end) and at the total step count. A restarted pod resumes from the last
checkpoint, on the batches the killed one would have read next (the input is a
function of the seed and the step), and stops at the same total step count.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from dlpipe import __version__, atomic, failpoints, log, plots
from dlpipe.errors import ConfigError, DlpipeError
from dlpipe.events import EventSink
from dlpipe.layout import ExportPaths, Layout
from dlpipe.manifest import read_manifest, verify_shards
from dlpipe.progress import Progress
from dlpipe.records import raw_batches
from dlpipe.train import data, models, strategy
from dlpipe.train.export import write_export
from dlpipe.train.options import Options

logger = log.get("train")
OPTIMIZERS = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW, "sgd": keras.optimizers.SGD,
              "rmsprop": keras.optimizers.RMSprop}  # fmt: skip
SAMPLE_EXAMPLES = 2000  # examples that adapt normalisation and vocabularies


def _precision(mode: str) -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if mode == "on" or (mode == "auto" and gpus):
        keras.mixed_precision.set_global_policy("mixed_float16")
        return "mixed_float16"
    keras.mixed_precision.set_global_policy("float32")
    return "float32"


def _sample(directory: Path, manifest: dict[str, Any], opts: Options) -> dict[str, np.ndarray]:
    """Up to SAMPLE_EXAMPLES training examples as the model takes them: what adapt() learns from."""
    ds = data.dataset(
        directory, manifest, "train", SAMPLE_EXAMPLES, training=False, seed=opts.seed, image_size=opts.image_size
    )
    features, _labels = next(iter(ds))
    return {k: v.numpy() for k, v in features.items()}


def _raw_sample(directory: Path, manifest: dict[str, Any], count: int) -> dict[str, np.ndarray]:
    """A few examples exactly as stored (encoded images stay bytes): what clients send."""
    features, _labels = next(iter(raw_batches(directory, manifest, "train", count)))
    return {k: v.numpy() for k, v in features.items()}


def _check_run_config(path: Path, wanted: dict[str, Any]) -> None:
    if path.exists():
        existing = json.loads(path.read_text())
        if existing.get("hyperparameters") != wanted["hyperparameters"] or existing.get("dataset") != wanted["dataset"]:
            raise ConfigError(
                f"run {path.parent.name} already exists with other settings ({path})",
                "pass a new --run-id, or the same settings to resume it",
            )


def steps_until_boundary(done: int, per_execution: int, save_steps: int, steps_per_epoch: int, total: int) -> int:
    """Steps for the next call: at most ``per_execution``, never past a checkpoint, an epoch end or the end."""
    boundary = min((done // save_steps + 1) * save_steps, (done // steps_per_epoch + 1) * steps_per_epoch, total)
    return min(per_execution, boundary - done)


def _write_scalars(writer: Any, entry: dict[str, Any]) -> None:
    with writer.as_default(step=entry["step"]):
        for key, value in entry.items():
            if key not in ("epoch", "step") and value is not None:
                tf.summary.scalar(key, value)
    writer.flush()


def _rewrite_logs(logs: Path, history: list[dict[str, Any]]) -> None:
    """TensorBoard's scalars are the history's: rewritten whole on resume, so no step is shown twice or missing."""
    with atomic.staging_dir(logs) as staged:
        writer = tf.summary.create_file_writer(str(staged))
        for entry in history:
            _write_scalars(writer, entry)
        writer.close()
        atomic.replace_dir(staged, logs)


class Trainer:
    def __init__(self, opts: Options, layout: Layout, config: dict[str, Any], events: EventSink) -> None:
        self.opts, self.layout, self.config, self.events = opts, layout, config, events
        self.run = layout.run_paths(opts.run_id)
        self.run_id = opts.run_id

    def prepare(self) -> None:
        opts = self.opts
        version = self.layout.dataset_version(opts.dataset, opts.version)
        self.directory = self.layout.dataset_version_dir(opts.dataset, version)
        self.manifest = read_manifest(self.directory)
        verify_shards(self.directory, self.manifest)
        if "train" not in self.manifest["splits"]:
            raise DlpipeError(f"{opts.dataset}@{version} has no train split")
        self.version = version
        self.placement = strategy.choose(opts.strategy, self.config["train"])
        self.precision = _precision(opts.mixed_precision)
        self.record = {
            "run_id": self.run_id,
            "dataset": {"name": opts.dataset, "version": version},
            "hyperparameters": opts.hyperparameters(),
            "dlpipe": __version__,
        }
        _check_run_config(self.run.config, self.record)

    def build(self) -> None:
        opts = self.opts
        keras.utils.set_random_seed(opts.seed)
        sample = _sample(self.directory, self.manifest, opts)
        with self.placement.strategy.scope():
            self.model = models.build(opts.model, self.manifest, sample, opts.image_size, opts.model_path)
            optimizer = OPTIMIZERS[opts.optimizer](learning_rate=opts.learning_rate)
            if self.precision == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            # Its slots made now, not by the first step: a tf.function that creates variables is traced twice.
            optimizer.build(self.model.trainable_variables)
            self.optimizer = optimizer
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            on_read = {"synchronization": tf.VariableSynchronization.ON_READ,
                       "aggregation": tf.VariableAggregation.SUM, "trainable": False}  # fmt: skip
            self.loss_sum = tf.Variable(0.0, **on_read)
            self.correct = tf.Variable(0.0, **on_read)
            self.seen = tf.Variable(0.0, **on_read)
        # The running sums travel with the checkpoint, so a resumed epoch reports all of its steps.
        checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, step=self.step,
                                         loss_sum=self.loss_sum, correct=self.correct, seen=self.seen)  # fmt: skip
        # Only the chief's checkpoints are real; the others write to scratch space (MWMS needs all to save).
        where = (
            self.run.checkpoints if self.placement.is_chief else self.run.worker_scratch(self.placement.worker_index)
        )
        self.checkpoints = tf.train.CheckpointManager(checkpoint, str(where), max_to_keep=3)
        if self.checkpoints.latest_checkpoint:
            checkpoint.restore(self.checkpoints.latest_checkpoint).expect_partial()
            logger.info("resumed from %s at step %d", self.checkpoints.latest_checkpoint, int(self.step.numpy()))
        self.raw_sample = _raw_sample(self.directory, self.manifest, 4)
        if self.placement.is_chief:  # the run exists from here on: it passed every check and has a model
            atomic.write_text(
                self.run.config, json.dumps({**self.record, "precision": self.precision}, indent=2) + "\n"
            )
        # One events.jsonl per run, the chief's: the other workers' would repeat every line.
        self.events.attach(self.run.events if self.placement.is_chief else Path(os.devnull))

    def _train_steps(self) -> Any:
        loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="none")
        batch = self.opts.batch_size
        model, optimizer, strat = self.model, self.optimizer, self.placement.strategy
        scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

        def replica_step(features: dict[str, tf.Tensor], labels: tf.Tensor) -> None:
            with tf.GradientTape() as tape:
                probabilities = model(features, training=True)
                per_example = loss_fn(labels, probabilities)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=batch)
                if model.losses:
                    loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
                target = optimizer.scale_loss(loss) if scaled else loss
            grads = tape.gradient(target, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            predicted = tf.argmax(probabilities, axis=-1, output_type=labels.dtype)
            self.loss_sum.assign_add(tf.reduce_sum(per_example))
            self.correct.assign_add(tf.reduce_sum(tf.cast(tf.equal(predicted, labels), tf.float32)))
            self.seen.assign_add(tf.cast(tf.shape(labels)[0], tf.float32))

        @tf.function
        def steps(iterator: Any, count: tf.Tensor) -> None:
            # Several steps per call (Keras' steps_per_execution): a small model's step is shorter than the
            # Python round trip around it. ``count`` is a tensor so that a shorter run does not retrace.
            for _ in tf.range(count):
                features, labels = next(iterator)
                strat.run(replica_step, args=(features, labels))
                self.step.assign_add(1)

        return steps

    def _evaluate(self) -> dict[str, float]:
        """Validation on every worker alone (no collectives), so all agree without waiting on each other."""
        if "validation" not in self.manifest["splits"]:
            return {}
        ds = data.dataset(self.directory, self.manifest, "validation", self.opts.batch_size, training=False,
                          seed=self.opts.seed, image_size=self.opts.image_size)  # fmt: skip
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        total = correct = loss = 0.0
        for features, labels in ds:
            probabilities = self.model(features, training=False)
            n = float(labels.shape[0])
            loss += float(loss_fn(labels, probabilities)) * n
            correct += float(tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probabilities, -1), labels), tf.float32)))
            total += n
        return {"val_loss": loss / total, "val_accuracy": correct / total} if total else {}

    def fit(self) -> list[dict[str, Any]]:
        """Train to the total step count; checkpoint, history and TensorBoard agree after a kill at any instant.

        At an epoch's end the checkpoint (which holds the epoch's running sums)
        is saved first, then the history entry is committed, then TensorBoard.
        A resumed run keeps the history up to its checkpoint, redoes an epoch's
        entry the kill cut off, and rewrites TensorBoard's logs from the history.
        """
        opts = self.opts
        steps_per_epoch = data.steps_per_epoch(self.manifest, "train", opts.batch_size)
        total = opts.max_steps or opts.epochs * steps_per_epoch
        done = int(self.step.numpy())
        history = self._resume_history(done, steps_per_epoch, total)
        # The batches from step `done` on: a resumed run reads what the killed one would have.
        train_ds = data.dataset(self.directory, self.manifest, "train", opts.batch_size, training=True, seed=opts.seed,
                                image_size=opts.image_size, shuffle_buffer=opts.shuffle_buffer,
                                first_step=done)  # fmt: skip
        iterator = iter(self.placement.strategy.experimental_distribute_dataset(train_ds))
        run_steps = self._train_steps()
        writer = tf.summary.create_file_writer(str(self.run.logs)) if self.placement.is_chief else None
        progress = Progress("train", "steps", total, self.config["progress_interval"], self.events,
                            status=self._status, done=done)  # fmt: skip
        epoch_started = time.monotonic()
        while done < total:
            count = steps_until_boundary(done, self.config["train"]["steps_per_execution"], opts.save_steps,
                                         steps_per_epoch, total)  # fmt: skip
            run_steps(iterator, tf.constant(count, tf.int64))
            done += count
            progress.advance(count)
            at_epoch_end = done % steps_per_epoch == 0 or done == total
            if at_epoch_end:
                entry = self._epoch_entry(done, steps_per_epoch, time.monotonic() - epoch_started)
            if done % opts.save_steps == 0 or at_epoch_end:
                self.checkpoints.save(checkpoint_number=done)
                failpoints.step("checkpoint", self.checkpoints.latest_checkpoint)
            if at_epoch_end:
                self._commit_epoch(history, entry, writer)
                epoch_started = time.monotonic()
        progress.close()
        return history

    def _epoch_entry(self, done: int, steps_per_epoch: int, seconds: float | None) -> dict[str, Any]:
        seen = float(self.seen.numpy()) or 1.0
        return {
            "epoch": math.ceil(done / steps_per_epoch),
            "step": done,
            "loss": float(self.loss_sum.numpy()) / seen,
            "accuracy": float(self.correct.numpy()) / seen,
            "examples_per_second": None if seconds is None else seen / max(seconds, 1e-9),
            **self._evaluate(),
        }

    def _commit_epoch(self, history: list[dict[str, Any]], entry: dict[str, Any], writer: Any) -> None:
        history.append(entry)
        if self.placement.is_chief:
            atomic.write_text(self.run.history, json.dumps(history, indent=2) + "\n")
        self.events.emit("epoch", **entry)
        if writer is not None:
            _write_scalars(writer, entry)
        for variable in (self.loss_sum, self.correct, self.seen):
            variable.assign(0.0)

    def _resume_history(self, done: int, steps_per_epoch: int, total: int) -> list[dict[str, Any]]:
        """The history as of the restored checkpoint, the entry of an epoch it ended included."""
        history = json.loads(self.run.history.read_text()) if self.run.history.exists() else []
        history = [entry for entry in history if entry["step"] <= done]
        if done == 0 or not self.placement.is_chief:
            return history
        if (done % steps_per_epoch == 0 or done == total) and (not history or history[-1]["step"] != done):
            logger.info("redoing the history entry of step %d (the run was stopped before it was written)", done)
            self._commit_epoch(history, self._epoch_entry(done, steps_per_epoch, None), None)
        elif done % steps_per_epoch == 0 or done == total:
            for variable in (self.loss_sum, self.correct, self.seen):
                variable.assign(0.0)  # the checkpoint holds the finished epoch's sums
        _rewrite_logs(self.run.logs, history)
        return history

    def _status(self, steps_per_second: float) -> str:
        seen = float(self.seen.numpy())
        examples = f"{steps_per_second * self.opts.batch_size:.0f} examples/s"
        return f"{examples}, loss {float(self.loss_sum.numpy()) / seen:.4f}" if seen else examples

    def export(self, history: list[dict[str, Any]]) -> ExportPaths:
        lineage = {
            **self.record,
            "dataset": {
                "name": self.opts.dataset,
                "version": self.version,
                "source": self.manifest.get("source"),
                "shards": {
                    split: [s["sha256"] for s in spec["shards"]] for split, spec in self.manifest["splits"].items()
                },
            },
            "classes": self.manifest["label"]["classes"],
            "steps": int(self.step.numpy()),
            "final": history[-1] if history else {},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(),
        }
        path = write_export(self.model, self.manifest, self.run.export, image_size=self.opts.image_size,
                            sample=self.raw_sample, lineage=lineage, model_name=self.opts.dataset,
                            publish=self.placement.is_chief)  # fmt: skip
        if self.placement.is_chief and history:
            plots.training_curves(history, self.run.curves)
        if not self.placement.is_chief:
            shutil.rmtree(self.run.worker_scratch(self.placement.worker_index), ignore_errors=True)
        return path
