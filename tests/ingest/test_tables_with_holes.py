"""CSV and Parquet with empty cells: impute (default), drop or refuse; counts in the manifest and the log.

The records keep the holes (NaN, ""); the manifest says what fills them, from
the training split only. That the model fills them the same way in training
and serving is tested in tests/train/test_missing_values.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlpipe.layout import Layout
from dlpipe.manifest import read_manifest
from dlpipe.records import raw_batches
from tests.tooling.sample_data import make_income_csv, run_cli

EMPTY = {"age": 14, "hours_per_week": 19, "workclass": 22}


def ingest(root: Path, source: Path, *extra: str) -> int:
    return run_cli("ingest", "--root", str(root), "--source", str(source), "--dataset", "income", "--label", "income",
                   "--log-format", "text", *extra)  # fmt: skip


def split(root: Path, name: str) -> tuple[dict, dict[str, np.ndarray]]:
    directory = Layout(root).dataset_version_dir("income", 1)
    manifest = read_manifest(directory)
    features, labels = next(iter(raw_batches(directory, manifest, name, 1000)))
    return manifest, {**{k: v.numpy() for k, v in features.items()}, "income": labels.numpy()}


@pytest.fixture(scope="module")
def csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_income_csv(tmp_path_factory.mktemp("tables") / "income.csv")


def test_impute_is_the_default(tmp_path: Path, csv: Path, capsys: pytest.CaptureFixture) -> None:
    assert ingest(tmp_path, csv) == 0
    captured = capsys.readouterr()
    assert (
        "INFO income.csv: empty cells in age 14, hours_per_week 19, workclass 22, income 1; filled: numbers "
        "with the training split's median (plus a missing indicator), categories with (missing)"
    ) in captured.err
    assert "skipped 1 row without a label" in captured.out
    manifest, train = split(tmp_path, "train")
    assert manifest["label"]["classes"] == ["<=50K", ">50K"], "a string label"
    assert manifest["skipped"] == {"row without a label": 1}
    assert manifest["features"]["age"] == {"dtype": "float32", "shape": []}, "an integer column with holes"
    missing = manifest["missing"]
    assert missing["strategy"] == "impute" and missing["statistics_from"] == "train"
    columns = missing["columns"]
    assert {name: c["empty"] for name, c in columns.items() if c["empty"]} == EMPTY
    for name in ("age", "hours_per_week"):
        assert columns[name]["fill"] == pytest.approx(np.nanmedian(train[name]), rel=1e-6), "the train split's median"
        assert columns[name]["indicator"] == f"{name}_missing"
    assert columns["workclass"] == {"empty": 22, "fill": "(missing)"}, "categories: a category of their own"
    assert columns["education"] == {"empty": 0, "fill": "(missing)"}, "every category column may be empty served"
    # The records keep the holes; the model input fills them.
    assert np.isnan(train["hours_per_week"]).any() and (train["workclass"] == b"").any()


def test_drop(tmp_path: Path, csv: Path, capsys: pytest.CaptureFixture) -> None:
    assert ingest(tmp_path, csv, "--missing", "drop") == 0
    assert "empty cells in age 14, hours_per_week 19, workclass 22, income 1; their rows are dropped" in (
        capsys.readouterr().err
    )
    manifest, train = split(tmp_path, "train")
    assert manifest["skipped"] == {"row without a label": 1, "row with empty cells (--missing drop)": 51}
    assert manifest["missing"] == {"strategy": "drop", "columns": {name: {"empty": n} for name, n in EMPTY.items()}}
    assert sum(s["examples"] for s in manifest["splits"].values()) == 240 - 52
    assert manifest["features"]["age"]["dtype"] == "float32" and not np.isnan(train["age"]).any()


def test_error(tmp_path: Path, csv: Path, capsys: pytest.CaptureFixture) -> None:
    assert ingest(tmp_path, csv, "--missing", "error") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(
        "income.csv: empty cells in age 14, hours_per_week 19, workclass 22, income 1 (--missing impute fills them "
        "(numbers: the training split's median; categories: a missing category); --missing drop drops those rows)"
    )
    assert Layout(tmp_path).dataset_versions("income") == []


def test_bad_missing_setting(tmp_path: Path, csv: Path, capsys: pytest.CaptureFixture, monkeypatch) -> None:
    monkeypatch.setenv("DLPIPE_INGEST__MISSING", "guess")  # what a chart's config or a pod's env gives
    assert ingest(tmp_path, csv) == 2
    assert "ingest.missing: 'guess' is not one of ['impute', 'drop', 'error']" in capsys.readouterr().err


def test_parquet_nulls_and_a_column_with_no_training_values(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 60
    table = pa.table({
        "x": pa.array([None if i % 4 == 0 else float(i) for i in range(rows)]),
        "colour": pa.array([None if i % 5 == 0 else ("red", "blue")[i % 2] for i in range(rows)]),
        "income": pa.array([("low", "high")[i % 2] for i in range(rows)]),
    })  # fmt: skip
    pq.write_table(table, tmp_path / "t.parquet")
    assert ingest(tmp_path, tmp_path / "t.parquet") == 0
    columns = read_manifest(Layout(tmp_path).dataset_version_dir("income", 1))["missing"]["columns"]
    assert columns["x"]["empty"] == 15 and columns["x"]["indicator"] == "x_missing"
    assert columns["colour"] == {"empty": 12, "fill": "(missing)"}

    pq.write_table(table.append_column("blank", pa.array([None] * rows, pa.float64())), tmp_path / "blank.parquet")
    assert ingest(tmp_path, tmp_path / "blank.parquet") == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("column 'blank' has no values in the training split: nothing to impute from "
                        "(remove the column from the file)")  # fmt: skip
