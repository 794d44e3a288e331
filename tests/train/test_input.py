"""Training input is a function of (seed, step): a resumed run reads the batches an uninterrupted one reads.

Both ways a split can be read are checked (held in memory as tensors, and
streamed from the shards), on examples whose feature is their own row number.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from dlpipe import failpoints
from dlpipe.config import load_config
from dlpipe.ingest import pipeline as ingest
from dlpipe.layout import Layout
from dlpipe.manifest import read_manifest
from dlpipe.train import data, strategy
from dlpipe.train.options import Options
from dlpipe.train.stage import run_stage
from dlpipe.train.trainer import steps_until_boundary
from tests.tooling.settings import built_trainer, configured

ROWS = 300


@pytest.fixture(scope="module")
def numbered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A dataset whose feature ``x`` is each example's row number (0..ROWS-1), in 3 shards."""
    root = tmp_path_factory.mktemp("numbered")
    rows = np.arange(ROWS, dtype=np.float32)
    np.savez(root / "n.npz", x=rows[:, None], y=np.arange(ROWS) % 3)
    flags = {"ingest.source": str(root / "n.npz"), "ingest.dataset": "n", "ingest.shards": 3,
             "ingest.splits": "train=1", "progress_interval": 3600}  # fmt: skip
    config = load_config(flags, environ={})
    ingest.run_stage(ingest.Options.from_config(config), Layout(root), config)
    directory = Layout(root).dataset_version_dir("n", 1)
    return directory, read_manifest(directory)


def _rows(numbered: tuple[Path, dict[str, Any]], in_memory: bool, first: int, steps: int, batch: int) -> np.ndarray:
    directory, manifest = numbered
    ds = data.dataset(directory, manifest, "train", batch, training=True, seed=7, image_size=8, first_step=first,
                      shuffle_buffer=50, in_memory=in_memory)  # fmt: skip
    return np.stack([features["x"][:, 0].numpy().astype(int) for features, _ in ds.take(steps)])


@pytest.mark.parametrize("in_memory", [True, False], ids=["in-memory", "streamed"])
def test_batches_depend_on_the_seed_and_step_alone(numbered: tuple, in_memory: bool) -> None:
    whole = _rows(numbered, in_memory, 0, 20, 32)  # 9 steps an epoch: 20 steps cross two epoch ends
    for first in (1, 9, 13):
        np.testing.assert_array_equal(_rows(numbered, in_memory, first, 20 - first, 32), whole[first:])
    epoch = whole[:9].ravel()
    assert len(set(epoch)) == len(epoch), "an epoch reads each example at most once"
    assert not np.array_equal(whole[:9], whole[9:18]), "each epoch has its own order"


def test_a_split_smaller_than_a_batch_still_gives_full_batches(numbered: tuple) -> None:
    rows = _rows(numbered, True, 0, 2, 400)
    assert rows.shape == (2, 400) and set(rows[0]) == set(range(ROWS))
    assert _rows(numbered, False, 0, 2, 400).shape == (2, 400)


def test_evaluation_reads_the_split_once_in_stored_order(numbered: tuple) -> None:
    directory, manifest = numbered
    ds = data.dataset(directory, manifest, "train", 128, training=False, seed=7, image_size=8)
    sizes = [len(labels) for _, labels in ds]
    assert sizes == [128, 128, ROWS - 256]


@pytest.mark.parametrize(
    ("done", "expected"),
    [
        (0, 4),  # the first checkpoint (save_steps 4)
        (4, 3),  # the epoch ends at step 7
        (7, 1),  # checkpoint at 8
        (8, 4),
        (12, 2),  # the end (total 14) comes first
    ],
)
def test_a_call_never_runs_past_a_checkpoint_an_epoch_end_or_the_end(done: int, expected: int) -> None:
    assert steps_until_boundary(done, per_execution=5, save_steps=4, steps_per_epoch=7, total=14) == expected


class _Stop(Exception):
    """Stands for a kill at a checkpoint."""


def test_an_interrupted_run_resumes_on_the_batches_an_uninterrupted_run_reads(
    volume: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[np.ndarray] = []
    real_dataset = data.dataset

    def recording(*args: Any, **kwargs: Any) -> tf.data.Dataset:
        ds = real_dataset(*args, **kwargs)
        if not kwargs.get("training"):
            return ds

        def note(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
            seen.append(images.numpy().reshape(len(labels), -1).sum(axis=1))
            return labels

        def noted(features: dict[str, tf.Tensor], labels: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
            return features, tf.ensure_shape(tf.py_function(note, [features["image"], labels], tf.int64), labels.shape)

        # Prefetching reads ahead of training: what was trained is the first batches of each segment.
        return ds.map(noted)

    monkeypatch.setattr(data, "dataset", recording)

    def train(run_id: str, stop_at_checkpoint: int | None = None) -> list[np.ndarray]:
        config = configured(train__dataset="digits", train__max_steps=12, train__save_steps=4, train__batch_size=32,
                            train__steps_per_execution=3, run_id=run_id, progress_interval=3600)  # fmt: skip
        checkpoints = []

        def step(kind: str, path: object) -> None:
            checkpoints.extend([path] if kind == "checkpoint" else [])
            if len(checkpoints) == stop_at_checkpoint:
                raise _Stop

        monkeypatch.setattr(failpoints, "step", step)
        trainer = built_trainer(volume, config)
        seen.clear()
        with contextlib.suppress(_Stop):
            trainer.fit()
        return list(seen)

    whole = train("straight")[:12]
    first = train("interrupted", stop_at_checkpoint=2)[:8]  # stopped after its checkpoint at step 8
    rest = train("interrupted")[:4]
    for expected, got in zip(whole, first + rest, strict=True):
        np.testing.assert_allclose(got, expected)


def test_one_device_strategy_trains_and_exports(volume: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a pod with one GPU runs (OneDeviceStrategy: batches prefetched to the device), here on the CPU."""
    one_device = strategy.Placement(tf.distribute.OneDeviceStrategy("/cpu:0"), True, 0, 1)
    monkeypatch.setattr(strategy, "choose", lambda *_args, **_kwargs: one_device)
    config = configured(train__dataset="digits", train__max_steps=6, train__save_steps=4, train__steps_per_execution=4,
                        run_id="one-device", progress_interval=3600)  # fmt: skip
    result = run_stage(Options.from_config(config), Layout(volume), config)
    assert result.steps == 6 and result.export.is_complete()
    checkpoints = Layout(volume).run_paths("one-device").checkpoints
    assert sorted(p.name for p in checkpoints.glob("ckpt-*.index")) == ["ckpt-4.index", "ckpt-6.index"]
