"""`dlpipe train --pending`: each dataset version without a run of these settings is trained once, in a run
named after it, whatever the number of ticks, retries and crashes in between."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlpipe.layout import Layout
from dlpipe.train.options import Options
from dlpipe.train.pending import pending_runs, run_id, setup_id
from tests.tooling.sample_data import run_cli


def _options(dataset: str = "digits", **train: object) -> Options:
    section = {"dataset": dataset, "model": "mlp", "epochs": 1, "max_steps": None, "batch_size": 32,
               "learning_rate": 0.001, "optimizer": "adam", "save_steps": 500, "seed": 42,
               "mixed_precision": "off", "image_size": 64, "strategy": "auto", "shuffle_buffer": 1000,
               "model_path": None, "upload": None}  # fmt: skip
    return Options.from_config({"train": {**section, **train}})


def _publish_versions(layout: Layout, *versions: int) -> None:
    """Dataset versions as readers see them: a version is there once its manifest is."""
    for version in versions:
        layout.manifest_path("digits", version).parent.mkdir(parents=True)
        layout.manifest_path("digits", version).write_text("{}")


def _finish(layout: Layout, run: str) -> None:
    layout.run_paths(run).export.dir.mkdir(parents=True)
    layout.run_paths(run).export.saved_model.write_bytes(b"")


def test_run_names_are_deterministic_and_differ_only_with_what_is_computed() -> None:
    opts = _options()
    assert run_id(opts, 3) == f"digits-mlp-{setup_id(opts)}-v3" == run_id(_options(), 3)
    assert setup_id(_options(upload="s3://b/p", strategy="default")) == setup_id(opts)  # where, not what
    assert setup_id(_options(epochs=20)) != setup_id(opts)
    long = _options(dataset="d" * 63, model="my_models.vision:build_a_very_long_model_name")
    assert len(run_id(long, 12345)) <= 63 and run_id(long, 12345).endswith("-v12345")


def test_new_settings_train_the_latest_version_then_every_newer_one(tmp_path: Path) -> None:
    layout, opts = Layout(tmp_path), _options()
    assert pending_runs(opts, layout) == []  # nothing ingested yet: nothing to do, no error
    _publish_versions(layout, 1, 2, 3)
    first = pending_runs(opts, layout)
    assert [(o.version, o.run_id) for o in first] == [(3, run_id(opts, 3))]
    _finish(layout, first[0].run_id)
    assert pending_runs(opts, layout) == []  # the next tick: nothing new
    _publish_versions(layout, 4, 5)
    assert [o.version for o in pending_runs(opts, layout)] == [4, 5]
    more_epochs = _options(epochs=20)
    assert [o.version for o in pending_runs(more_epochs, layout)] == [5]  # not history: versions 1 to 4


def test_a_run_killed_half_way_is_resumed_and_marks_where_its_settings_began(tmp_path: Path) -> None:
    layout, opts = Layout(tmp_path), _options()
    _publish_versions(layout, 1, 2, 3)
    layout.run_paths(run_id(opts, 2)).checkpoints.mkdir(parents=True)  # started on version 2, killed
    assert [o.version for o in pending_runs(opts, layout)] == [2, 3]
    assert [o.version for o in pending_runs(_options(dataset="digits@1"), layout)] == [1]  # asked for by name


def test_pending_refuses_a_run_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli("train", "--pending", "--root", str(tmp_path), "--dataset", "digits", "--run-id", "mine")
    assert code == 2
    assert "pending runs are named after their dataset version" in capsys.readouterr().err


def test_each_tick_trains_what_is_new_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path)
    train = ("train", "--pending", "--root", root, "--dataset", "digits", "--model", "mlp", "--max-steps", "3",
             "--batch-size", "64", "--log-format", "text")  # fmt: skip
    assert run_cli(*train) == 0
    assert "no version of dataset digits waiting" in capsys.readouterr().out
    assert run_cli("ingest", "--root", root, "--dataset", "digits", "--source", "sample:digits") == 0
    assert run_cli(*train) == 0
    runs = Layout(tmp_path).run_ids()
    assert len(runs) == 1 and runs[0].endswith("-v1") and Layout(tmp_path).run_paths(runs[0]).export.is_complete()
    capsys.readouterr()
    assert run_cli(*train) == 0  # the next tick, or a retried pod
    assert "no version of dataset digits waiting" in capsys.readouterr().out
    assert run_cli("ingest", "--root", root, "--dataset", "digits", "--source", "sample:digits", "--force") == 0
    assert run_cli(*train) == 0
    assert sorted(Layout(tmp_path).run_ids()) == sorted([runs[0], runs[0].replace("-v1", "-v2")])
