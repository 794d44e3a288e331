"""Raw data as people have it, through the CLI, to an export that answers with class names.

Each shape of issue 12: the cats-vs-dogs download (wrapper folder, stray
files, corrupt images) as a zip, a tar.gz, a folder and an S3 prefix; an
income CSV with empty cells and a string label (evaluated, blessed and
published); aclImdb with ``unsup`` and only train/test; token ids in an NPZ.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from dlpipe.export import load_signature, read_warmup_inputs, verify_export
from dlpipe.layout import ExportPaths, Layout
from dlpipe.serving.local import LocalServer
from dlpipe.serving.repository import Repository
from tests.tooling.net import free_port
from tests.tooling.sample_data import (
    make_imdb,
    make_income_csv,
    make_pets_download,
    make_token_npz,
    run_cli,
    tar_folder,
    zip_contents,
)


def cli(root: Path, *argv: str) -> int:
    return run_cli(*argv, "--root", str(root), "--log-format", "text")


def top_classes(export: ExportPaths, rows: dict[str, np.ndarray] | None = None) -> set[str]:
    """The best class of each row (the warm-up request's by default), as serving_default names it."""
    _loaded, signature = load_signature(export)
    inputs = read_warmup_inputs(export) if rows is None else rows
    answer = signature(**{name: tf.constant(value) for name, value in inputs.items()})
    return {name.decode() for name in answer["classes"].numpy()[:, 0]}


@pytest.fixture(scope="module")
def download(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pets_download(tmp_path_factory.mktemp("kagglecatsanddogs"))


@pytest.mark.parametrize("shape", ["zip", "tar", "folder", "s3"])
def test_cats_and_dogs_as_downloaded(
    tmp_path: Path, download: Path, shape: str, request: pytest.FixtureRequest
) -> None:
    if shape == "s3":
        bucket = request.getfixturevalue("bucket")
        for path in (p for p in sorted(download.rglob("*")) if p.is_file()):
            bucket.upload_file(str(path), bucket.bucket, f"raw/{path.relative_to(download).as_posix()}")
        source = f"s3://{bucket.bucket}/raw/"
    else:
        source = str({"zip": lambda: zip_contents(download, tmp_path / "kagglecatsanddogs.zip"),
                      "tar": lambda: tar_folder(download, tmp_path / "pets.tar.gz"),
                      "folder": lambda: download}[shape]())  # fmt: skip
    root = tmp_path / "vol"
    assert cli(root, "ingest", "--source", source, "--dataset", "pets") == 0
    assert cli(root, "train", "--dataset", "pets", "--model", "cnn", "--image-size", "16", "--max-steps", "2",
               "--batch-size", "4", "--run-id", "pets") == 0  # fmt: skip
    export = Layout(root).run_paths("pets").export
    assert top_classes(export) <= {"Cat", "Dog"}
    assert verify_export(export).endswith("; classification agrees")


def test_income_csv_with_holes_is_blessed_and_served(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "vol"
    csv = make_income_csv(tmp_path / "income.csv")
    assert cli(root, "ingest", "--source", str(csv), "--dataset", "income", "--label", "income") == 0
    assert cli(root, "train", "--dataset", "income", "--model", "cnn", "--max-steps", "1") == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "--model cnn needs one image feature (a 2-D or 3-D float array); the dataset has age (float32), education "
            "(string), hours_per_week (float32), workclass (string), age_missing (float32), hours_per_week_missing "
            "(float32) (use --model mlp)"
        )
    )
    assert cli(root, "train", "--dataset", "income", "--model", "mlp", "--max-steps", "20", "--run-id", "income") == 0
    # Scored through the signature on the test split as stored, holes and all.
    assert cli(root, "evaluate", "--run-id", "income", "--model-name", "income", "--threshold", "accuracy>=0") == 0
    capsys.readouterr()
    layout = Layout(root)
    assert json.loads(layout.run_paths("income").evaluation.blessing.read_text())["blessed"] is True
    published = layout.model_version("income", layout.model_versions("income")[-1])
    rows = {
        "age": np.array([np.nan, 40.0], np.float32),
        "hours_per_week": np.array([60.0, np.nan], np.float32),
        "workclass": np.array([b"", b"Private"], object),
        "education": np.array([b"Bachelors", b""], object),
    }
    assert top_classes(published, rows) <= {"<=50K", ">50K"}
    # Served, a row as a person types it: a blank cell and a left-out column are holes, over REST and gRPC.
    server = LocalServer(Repository(layout, "income"), free_port(), grpc_port=free_port(), poll=0.2).start()
    try:
        row = ["--model", "income", "--csv-row", "age=,workclass=Private,education=Bachelors"]
        assert run_cli("predict", "--url", f"http://127.0.0.1:{server.port}", *row) == 0
        assert run_cli("predict", "--grpc", f"127.0.0.1:{server.grpc_port}", *row) == 0
    finally:
        server.stop()
    answers = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].strip() for line in answers] == ["income version 1", "row 1"] * 2, answers
    assert all(">50K" in line for line in answers[1::2]), answers


def test_aclimdb_with_unsup_and_only_train_and_test(tmp_path: Path) -> None:
    root = tmp_path / "vol"
    archive = tar_folder(make_imdb(tmp_path / "src"), tmp_path / "aclImdb_v1.tar.gz")
    assert cli(root, "ingest", "--source", str(archive), "--dataset", "imdb") == 0
    assert cli(root, "train", "--dataset", "imdb", "--model", "text-bigru", "--max-steps", "2", "--batch-size", "4",
               "--run-id", "imdb") == 0  # fmt: skip
    run = Layout(root).run_paths("imdb")
    assert "val_accuracy" in json.loads(run.history.read_text())[-1], "validation carved out of train"
    assert top_classes(run.export, {"text": np.array([b"a great movie", b"bad"], object)}) <= {"neg", "pos"}


def test_token_ids_say_which_model_fits(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "vol"
    assert cli(root, "ingest", "--source", str(make_token_npz(tmp_path / "imdb_ids.npz")), "--dataset", "ids") == 0
    capsys.readouterr()
    assert cli(root, "train", "--dataset", "ids", "--model", "text-bigru", "--max-steps", "2") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(
        "--model text-bigru needs one text feature (a string per example); the dataset has x (int64 [20]) "
        "(use --model mlp, which reads token ids as numbers; for text-bigru, ingest the raw text: class folders of "
        ".txt files, or a table with --text-column)"
    )
    assert cli(root, "train", "--dataset", "ids", "--model", "mlp", "--max-steps", "2", "--run-id", "ids") == 0
    assert (
        "WARNING --model mlp treats the 20 integers of x as numbers, not as token ids (words): word order and meaning "
        "are lost; for text-bigru, ingest the raw text: class folders of .txt files, or a table with --text-column"
    ) in capsys.readouterr().err
    assert top_classes(Layout(root).run_paths("ids").export) <= {"0", "1"}


def test_keras_mnist_npz_keeps_its_splits_and_trains_on_its_pixels(tmp_path: Path) -> None:
    """keras.datasets' mnist.npz: x_train/y_train/x_test/y_test of uint8 pixels 0..255."""
    rng = np.random.default_rng(0)
    arrays = {f"{a}_{split}": rng.integers(0, 256 if a == "x" else 10, (rows, 28, 28) if a == "x" else rows, np.uint8)
              for split, rows in (("train", 60), ("test", 20)) for a in ("x", "y")}  # fmt: skip
    np.savez(tmp_path / "mnist.npz", **arrays)
    root = tmp_path / "vol"
    assert cli(root, "ingest", "--source", str(tmp_path / "mnist.npz"), "--dataset", "mnist") == 0
    manifest = json.loads(Layout(root).manifest_path("mnist", 1).read_text())
    examples = {split: info["examples"] for split, info in manifest["splits"].items()}
    assert examples["test"] == 20 and examples["train"] + examples["validation"] == 60, "the publisher's test split"
    assert manifest["features"]["x"] == {"dtype": "int64", "shape": [28, 28]}
    assert cli(root, "train", "--dataset", "mnist", "--model", "cnn", "--max-steps", "2", "--run-id", "mnist") == 0
    assert top_classes(Layout(root).run_paths("mnist").export) <= {str(d) for d in range(10)}
