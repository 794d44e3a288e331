"""A table's empty cells, served: the export fills them exactly as training did.

The expected answers come from the trained Keras model called on rows filled
here, in numpy, from the manifest's statistics (the median, the missing
category, the indicator set to 1): not from the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from dlpipe.records import serialize
from dlpipe.train.trainer import Trainer
from tests.tooling.settings import built_trainer, configured

# Rows a client sends: NaN for an unknown number, "" for an unknown category.
ROWS = {
    "age": np.array([np.nan, 30.0, np.nan, 61.0], np.float32),
    "hours_per_week": np.array([45.0, np.nan, np.nan, 20.0], np.float32),
    "workclass": np.array([b"Private", b"", b"", b"State-gov"], object),
    "education": np.array([b"HS-grad", b"Bachelors", b"", b"HS-grad"], object),
}

DTYPES = {"age": "float32", "hours_per_week": "float32", "workclass": "string", "education": "string"}


def is_empty(value: Any) -> bool:
    return value == b"" if isinstance(value, bytes) else bool(np.isnan(value))


@pytest.fixture(scope="module")
def trained(volume: Path) -> Trainer:
    config = configured(train__dataset="income", train__model="mlp", train__max_steps=3, run_id="income-holes",
                        progress_interval=3600)  # fmt: skip
    trainer = built_trainer(volume, config)
    trainer.export(trainer.fit())
    return trainer


def filled_by_hand(rows: dict[str, np.ndarray], missing: dict[str, Any]) -> dict[str, np.ndarray]:
    """What the model should see: each hole replaced by its fill, each indicator 1 where a number was missing."""
    out = dict(rows)
    for name, column in missing["columns"].items():
        holes = rows[name] == b"" if rows[name].dtype == object else np.isnan(rows[name])
        out[name] = np.where(holes, column["fill"].encode() if isinstance(column["fill"], str) else column["fill"],
                             rows[name]).astype(rows[name].dtype)  # fmt: skip
        if "indicator" in column:
            out[column["indicator"]] = holes.astype(np.float32)
    return out


def test_served_rows_with_holes_answer_as_the_model_on_the_filled_rows(trained: Trainer) -> None:
    missing = trained.manifest["missing"]
    assert {c.get("indicator") for c in missing["columns"].values()} == {"age_missing", "hours_per_week_missing", None}
    filled = filled_by_hand(ROWS, missing)
    assert filled["age_missing"].tolist() == [1.0, 0.0, 1.0, 0.0]
    expected = trained.model({k: tf.constant(v) for k, v in filled.items()}, training=False).numpy()
    export = trained.run.export
    served = tf.saved_model.load(str(export.dir))
    answer = served.signatures["serving_default"](**{k: tf.constant(v) for k, v in ROWS.items()})
    np.testing.assert_allclose(answer["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)
    assert set(answer["classes"].numpy()[:, 0]) <= {b"<=50K", b">50K"}, "a string label's names"

    # Classify: the same rows as tf.Examples, the empty cells simply left out.
    examples = [serialize({name: (values[i], DTYPES[name]) for name, values in ROWS.items() if not is_empty(values[i])})
                for i in range(len(ROWS["age"]))]  # fmt: skip
    classified = served.signatures["classification"](inputs=tf.constant(examples))
    np.testing.assert_array_equal(classified["classes"].numpy(), answer["classes"].numpy())
    np.testing.assert_allclose(classified["scores"].numpy(), answer["scores"].numpy(), rtol=1e-6)


def test_the_lineage_repeats_the_statistics(trained: Trainer) -> None:
    lineage = json.loads(trained.run.export.lineage.read_text())
    assert lineage["missing"] == trained.manifest["missing"]


def test_values_a_model_never_saw_missing_are_filled_too(trained: Trainer) -> None:
    """education had no empty cell in the data: served empty, it is the missing category (unknown to the model)."""
    served = tf.saved_model.load(str(trained.run.export.dir)).signatures["serving_default"]
    row = {k: tf.constant(v[:1]) for k, v in ROWS.items()}
    empty = served(**{**row, "education": tf.constant([b""])})["probabilities"].numpy()
    named = served(**{**row, "education": tf.constant([b"(missing)"])})["probabilities"].numpy()
    np.testing.assert_allclose(empty, named, rtol=1e-6)
