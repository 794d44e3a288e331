"""`dlpipe ingest` on local data in every format, end to end through the CLI."""

from __future__ import annotations

import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from dlpipe.layout import Layout
from dlpipe.manifest import read_manifest, verify_shards
from tests.tooling.sample_data import (
    image_bytes,
    make_csv,
    make_image_folders,
    make_imdb,
    make_npz,
    run_cli,
    tar_folder,
    zip_folder,
)


def ingest(root: Path, source: Path | str, dataset: str, *extra: str) -> int:
    return run_cli(
        "ingest", "--source", str(source), "--dataset", dataset, "--root", str(root), "--log-format", "text", *extra
    )


def dataset(root: Path, name: str, version: int | None = None) -> tuple[Path, dict]:
    layout = Layout(root)
    version = version or layout.dataset_versions(name)[-1]
    directory = layout.dataset_version_dir(name, version)
    manifest = read_manifest(directory)
    verify_shards(directory, manifest)
    return directory, manifest


def parse(directory: Path, manifest: dict, split: str) -> dict[str, np.ndarray]:
    """Read a split back the way training will: batch, then parse_example."""
    spec = {}
    for name, feat in manifest["features"].items():
        dtype = {"float32": tf.float32, "int64": tf.int64, "string": tf.string}[feat["dtype"]]
        spec[name] = tf.io.FixedLenFeature(feat["shape"], dtype)
    files = [str(directory / s["file"]) for s in manifest["splits"][split]["shards"]]
    compression = "GZIP" if manifest["compression"] == "gzip" else ""
    data = (
        tf.data.TFRecordDataset(files, compression_type=compression)
        .batch(10_000)
        .map(lambda batch: tf.io.parse_example(batch, spec))
    )
    return {k: v.numpy() for k, v in next(iter(data)).items()}


def test_sample_digits_then_up_to_date_then_force(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert ingest(tmp_path, "sample:digits", "digits") == 0
    out = capsys.readouterr().out
    assert "digits version 1: train 1438, validation 179, test 180 examples" in out
    directory, manifest = dataset(tmp_path, "digits")
    assert f"manifest: {directory / 'manifest.json'}" in out
    assert manifest["label"] == {"name": "label", "classes": [str(i) for i in range(10)]}
    assert manifest["features"]["image"] == {"dtype": "float32", "shape": [8, 8]}
    assert [s["file"] for s in manifest["splits"]["train"]["shards"]] == [
        f"train-0000{i}-of-00004.tfrecord" for i in range(4)
    ]
    train = parse(directory, manifest, "train")
    assert train["image"].shape == (1438, 8, 8) and set(train["label"]) == set(range(10))

    assert ingest(tmp_path, "sample:digits", "digits") == 0
    assert "digits is up to date: version 1" in capsys.readouterr().out
    assert ingest(tmp_path, "sample:digits", "digits", "--shards", "2") == 0, "other options: a new version"
    assert "digits version 2" in capsys.readouterr().out
    assert ingest(tmp_path, "sample:digits", "digits", "--force") == 0
    assert "digits version 3" in capsys.readouterr().out
    assert Layout(tmp_path).dataset_versions("digits") == [1, 2, 3]


def test_split_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    source = make_npz(tmp_path / "data.npz")
    ingest(tmp_path / "a", source, "d", "--seed", "7")
    ingest(tmp_path / "b", source, "d", "--seed", "7")
    ingest(tmp_path / "c", source, "d", "--seed", "8")
    sums = [dataset(tmp_path / r, "d")[1]["splits"]["train"]["shards"][0]["sha256"] for r in "abc"]
    assert sums[0] == sums[1] != sums[2]


def test_split_names_are_those_training_reads(tmp_path: Path) -> None:
    """valid= (or val=, dev=) is the validation split: training would find no split named valid."""
    source = make_npz(tmp_path / "d.npz", rows=100)
    assert ingest(tmp_path, source, "d", "--splits", "train=0.8,valid=0.1,test=0.1") == 0
    _, manifest = dataset(tmp_path, "d")
    assert set(manifest["splits"]) == {"train", "validation", "test"}


def test_npz_with_custom_splits_shards_and_gzip(tmp_path: Path) -> None:
    source = make_npz(tmp_path / "data.npz", rows=300)
    assert (
        ingest(tmp_path, source, "arrays", "--splits", "train=0.5,test=0.5", "--shards", "3", "--compression", "gzip")
        == 0
    )
    directory, manifest = dataset(tmp_path, "arrays")
    assert manifest["format"] == "npz"
    assert {s: v["examples"] for s, v in manifest["splits"].items()} == {"train": 150, "test": 150}
    assert [s["file"] for s in manifest["splits"]["test"]["shards"]][-1] == "test-00002-of-00003.tfrecord.gz"
    test = parse(directory, manifest, "test")
    original = np.load(source)
    # Every parsed row is a row of the source, with its own label.
    rows = {tuple(np.round(x.ravel(), 5)): int(y) for x, y in zip(original["x"], original["y"], strict=False)}
    assert manifest["label"]["name"] == "y"
    for x, y in zip(test["x"], test["y"], strict=False):
        assert rows[tuple(np.round(x.ravel(), 5))] == y


def test_csv_with_string_label_and_columns(tmp_path: Path) -> None:
    assert ingest(tmp_path, make_csv(tmp_path / "iris.csv"), "iris", "--label", "species") == 0
    directory, manifest = dataset(tmp_path, "iris")
    assert manifest["label"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert manifest["features"]["height"] == {"dtype": "float32", "shape": []}
    assert manifest["features"]["weight"] == {"dtype": "int64", "shape": []}
    assert manifest["features"]["colour"] == {"dtype": "string", "shape": []}
    train = parse(directory, manifest, "train")
    assert set(train["colour"]) == {b"red", b"blue"}


@pytest.mark.parametrize(("name", "delimiter"), [("wine.csv", ";"), ("data.tsv", "\t"), ("pipes.csv", "|")])
def test_a_table_with_another_delimiter(tmp_path: Path, name: str, delimiter: str) -> None:
    """UCI's semicolons (winequality-red.csv, quoted headers), a .tsv's tabs: told from the first lines."""
    rows = [f'"fixed acidity"{delimiter}"colour"{delimiter}"quality"']
    rows += [f"{7 + i / 10}{delimiter}{'red' if i % 3 else 'white'}{delimiter}{5 + i % 2}" for i in range(30)]
    (tmp_path / name).write_text("\n".join(rows) + "\n")
    assert ingest(tmp_path, tmp_path / name, "wine", "--label", "quality") == 0
    _, manifest = dataset(tmp_path, "wine")
    assert manifest["label"]["classes"] == ["5", "6"]
    assert set(manifest["features"]) == {"fixed acidity", "colour", "quality"}


def test_a_table_with_only_a_header_is_refused_leaving_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty.csv").write_text("a,b\r\n")
    assert ingest(tmp_path, tmp_path / "empty.csv", "empty", "--label", "b") == 1
    assert capsys.readouterr().err.endswith(
        "error: empty.csv has no rows (a header alone is no data: check the file's download)\n"
    )
    assert not (tmp_path / "datasets" / "empty").exists()


def test_a_class_whose_every_image_is_corrupt_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Dog/ holds only files that do not open (0 bytes, HEIC named .jpg): no dataset without dogs."""
    folders = make_image_folders(tmp_path / "src")
    for image in (folders / "Dog").iterdir():
        image.write_bytes(b"" if image.suffix == ".png" else b"ftypheic not a jpeg")
    assert ingest(tmp_path / "vol", folders, "pets") == 1
    err = capsys.readouterr().err
    assert "error: class Dog has no usable examples (all were skipped: {" in err and "corrupt image" in err, err
    assert not (tmp_path / "vol" / "datasets" / "pets").exists()


def test_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"a": np.arange(50, dtype=np.float64), "b": np.arange(50) % 5, "label": np.arange(50) % 2})
    pq.write_table(table, tmp_path / "t.parquet")
    assert ingest(tmp_path, tmp_path / "t.parquet", "tab") == 0
    _, manifest = dataset(tmp_path, "tab")
    assert manifest["format"] == "parquet" and manifest["label"]["classes"] == ["0", "1"]
    assert sum(s["examples"] for s in manifest["splits"].values()) == 50


def test_csv_text_classification(tmp_path: Path) -> None:
    lines = ["review,sentiment"] + [f'"great, {i}",pos' if i % 2 else f"awful {i},neg" for i in range(40)]
    (tmp_path / "reviews.csv").write_text("\n".join(lines) + "\n")
    assert ingest(tmp_path, tmp_path / "reviews.csv", "reviews", "--text-column", "review", "--label", "sentiment") == 0
    directory, manifest = dataset(tmp_path, "reviews")
    assert manifest["format"] == "text-csv"
    assert set(manifest["features"]) == {"text", "sentiment"}
    texts = parse(directory, manifest, "train")["text"]
    assert any(t.startswith(b"great, ") for t in texts)


def test_kaggles_dogs_vs_cats_competition_download(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """dogs-vs-cats.zip holds train.zip (train/cat.0.jpg, dog.0.jpg, ...: the class in each name),
    test1.zip (unlabelled) and sampleSubmission.csv: the outer archive says which to take; train.zip
    is read by its file names, and split three ways like any unsplit data."""
    train = tmp_path / "src" / "train"
    train.mkdir(parents=True)
    for index, name in enumerate(("cat", "dog")):
        for i in range(10):
            (train / f"{name}.{i}.jpg").write_bytes(image_bytes((200 * index, 50, 9 * i), "JPEG"))
    (train / "Thumbs.db").write_bytes(b"\x00")
    zip_folder(tmp_path / "src", tmp_path / "train.zip")
    (tmp_path / "sampleSubmission.csv").write_text("id,label\n1,0.5\n")
    with zipfile.ZipFile(tmp_path / "dogs-vs-cats.zip", "w") as outer:
        for inner in ("train.zip", "sampleSubmission.csv"):
            outer.write(tmp_path / inner, inner)
    assert ingest(tmp_path / "vol", tmp_path / "dogs-vs-cats.zip", "pets") == 1
    assert capsys.readouterr().err.endswith(
        f"error: {tmp_path / 'dogs-vs-cats.zip'} holds archives (train.zip), not the data itself "
        "(unpack the one with the labelled data and ingest that, e.g. --source train.zip)\n"
    )
    assert ingest(tmp_path / "vol", tmp_path / "train.zip", "pets") == 0
    _, manifest = dataset(tmp_path / "vol", "pets")
    assert manifest["label"]["classes"] == ["cat", "dog"] and manifest["format"] == "images"
    assert set(manifest["splits"]) == {"train", "validation", "test"}
    assert sum(s["examples"] for s in manifest["splits"].values()) == 20 and manifest["skipped"] == {
        "file outside the class folders": 1}  # fmt: skip


def test_image_folders_zip_skips_corrupt_and_non_images(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folders = make_image_folders(tmp_path / "src")
    for fmt, suffix in (("GIF", ".gif"), ("BMP", ".bmp"), ("WEBP", ".webp")):  # what training decodes too
        (folders / "Dog" / f"more{suffix}").write_bytes(image_bytes((5, 6, 7), fmt))
    (folders / "Cat" / "scan.tiff").write_bytes(image_bytes((5, 6, 7), "TIFF"))
    archive = zip_folder(folders, tmp_path / "pets.zip")
    assert ingest(tmp_path / "vol", archive, "pets") == 0
    out = capsys.readouterr().out
    assert "skipped 1 corrupt image, 2 not an image" in out
    directory, manifest = dataset(tmp_path / "vol", "pets")
    assert manifest["format"] == "images"
    assert manifest["label"]["classes"] == ["Cat", "Dog"]
    assert manifest["skipped"] == {"corrupt image": 1, "not an image": 2}
    assert sum(s["examples"] for s in manifest["splits"].values()) == 15
    images = parse(directory, manifest, "train")["image"]
    decoded = [tf.io.decode_image(image, channels=3, expand_animations=False) for image in images]  # as training
    assert {image.shape for image in decoded} == {(10, 12, 3)}
    assert not (tmp_path / "vol" / ".cache" / "work").exists() or not any(
        (tmp_path / "vol" / ".cache" / "work").iterdir()
    )


def test_imdb_layout_keeps_the_source_splits_and_carves_validation_out_of_train(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    archive = tar_folder(make_imdb(tmp_path / "src"), tmp_path / "aclImdb_v1.tar.gz")
    assert ingest(tmp_path / "vol", archive, "imdb") == 0
    err = capsys.readouterr().err
    assert "ignored 1 file(s) in a folder that is not a class of every split: aclImdb/train/unsup/0_0.txt" in err
    assert "ignored 1 file(s) beside the class folders: aclImdb/imdb.vocab" in err
    assert ("the source has no validation split: 2 of its 10 train examples (11.1%, stratified by class, seed 42) "
            "are the validation split") in err  # fmt: skip
    directory, manifest = dataset(tmp_path / "vol", "imdb")
    assert manifest["format"] == "text"
    assert manifest["label"]["classes"] == ["neg", "pos"], "unsup is not a class"
    assert {s: v["examples"] for s, v in manifest["splits"].items()} == {"train": 8, "validation": 2, "test": 6}
    assert manifest["splits"]["validation"]["carved_from"] == {
        "split": "train", "fraction": round(1 / 9, 6), "stratified": True, "seed": 42
    }  # fmt: skip
    assert sorted(parse(directory, manifest, "validation")["label"]) == [0, 1], "one of each class"
    texts = parse(directory, manifest, "train")["text"]
    assert any("très bien" in t.decode() for t in texts)
    assert ingest(tmp_path / "vol", archive, "imdb", "--splits", "train=0.8,test=0.2") == 0, "no validation asked"
    _, manifest = dataset(tmp_path / "vol", "imdb")
    assert {s: v["examples"] for s, v in manifest["splits"].items()} == {"train": 10, "test": 6}


def test_a_train_split_too_small_to_carve_validation_from(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            (tmp_path / "src" / split / label).mkdir(parents=True)
            (tmp_path / "src" / split / label / "0.txt").write_text(f"{label} review")
    assert ingest(tmp_path / "vol", tmp_path / "src", "tiny") == 0
    assert ("WARNING the source has no validation split, and train (2 examples) is too small to carve one out"
            in capsys.readouterr().err)  # fmt: skip
    assert set(dataset(tmp_path / "vol", "tiny")[1]["splits"]) == {"train", "test"}


def test_tfrecords_are_validated_and_resharded(tmp_path: Path) -> None:
    ingest(tmp_path / "first", make_npz(tmp_path / "d.npz", rows=200), "d")
    first_dir, first = dataset(tmp_path / "first", "d")
    shards = tmp_path / "shards"
    shards.mkdir()
    for shard in first["splits"]["train"]["shards"]:
        (shards / shard["file"]).write_bytes((first_dir / shard["file"]).read_bytes())
    assert ingest(tmp_path / "second", shards, "again", "--shards", "2", "--label", "y") == 0
    _, manifest = dataset(tmp_path / "second", "again")
    assert manifest["format"] == "tfrecord"
    assert sum(s["examples"] for s in manifest["splits"].values()) == first["splits"]["train"]["examples"]
    assert manifest["features"]["x"] == {"dtype": "float32", "shape": [12]}


def test_corrupt_tfrecord_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "bad.tfrecord").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00garbage-garbage-garbage")
    assert ingest(tmp_path, tmp_path / "bad.tfrecord", "bad") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.tfrecord is not a valid TFRecord file" in err[0]
    assert Layout(tmp_path).dataset_versions("bad") == []


def _evil_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data/a/1.txt", "fine")
        zf.writestr("../../escaped.txt", "pwned")
    return path


def _evil_tar_link(path: Path) -> Path:
    with tarfile.open(path, "w") as tf_:
        info = tarfile.TarInfo("data/a/passwd")
        info.type, info.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
        tf_.addfile(info)
    return path


def _evil_tar_dotdot(path: Path) -> Path:
    with tarfile.open(path, "w") as tf_:
        data = b"pwned"
        info = tarfile.TarInfo("data/../../escaped.txt")
        info.size = len(data)
        tf_.addfile(info, __import__("io").BytesIO(data))
    return path


def _bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data/a/zeros.txt", b"\0" * (20 << 20))
        zf.writestr("data/b/zeros.txt", b"\0" * (20 << 20))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_evil_zip, "points outside the archive's folder"),
        (_evil_tar_link, "points outside the archive"),
        (_evil_tar_dotdot, "points outside the archive's folder"),
        (_bomb, "compression ratio"),
    ],
    ids=["zip-dotdot", "tar-symlink", "tar-dotdot", "zip-bomb"],
)
def test_hostile_archives_are_refused_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture, make, message: str
) -> None:
    suffix = ".zip" if make in (_evil_zip, _bomb) else ".tar"
    archive = make(tmp_path / "upload" / f"x{suffix}") if (tmp_path / "upload").mkdir() is None else None
    root = tmp_path / "deep" / "vol"
    assert ingest(root, archive, "evil") == 1
    assert message in capsys.readouterr().err
    assert Layout(root).dataset_versions("evil") == []
    assert not list(tmp_path.rglob("escaped.txt"))
    work = root / ".cache" / "work"
    assert not work.exists() or not any(work.iterdir())


def test_failure_half_way_leaves_nothing_and_the_next_run_succeeds(tmp_path: Path, monkeypatch) -> None:
    from dlpipe.ingest import pipeline

    source = make_npz(tmp_path / "d.npz")
    real = pipeline._write_shard
    calls = []

    def flaky(path, items, examples, compressed, progress):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(path, items, examples, compressed, progress)

    monkeypatch.setattr(pipeline, "_write_shard", flaky)
    assert ingest(tmp_path, source, "d", "--workers", "1") == 1
    layout = Layout(tmp_path)
    assert not layout.dataset_dir("d").exists(), "a failed first ingest leaves nothing that looks like a dataset"
    assert [p.name for p in layout.datasets_dir.iterdir()] == []
    failed = [json.loads(line) for line in layout.refused_events().read_text().splitlines()]
    assert failed[-1]["type"] == "failed" and failed[-1]["stage"] == "ingest"
    assert "No space left on device" in failed[-1]["error"]
    monkeypatch.setattr(pipeline, "_write_shard", real)
    assert ingest(tmp_path, source, "d") == 0
    assert layout.dataset_versions("d") == [1], "no number was claimed by the failed attempt"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "nowhere/at/all", "--dataset", "x"], "nowhere/at/all does not exist"),
        (["--source", "sample:digits"], "--dataset is required"),
        (["--source", "sample:digits", "--dataset", "Bad Name"], "ingest.dataset: 'Bad Name' is not allowed; use 1-63"),
        (["--source", "sample:digits", "--dataset", "d", "--splits", "train=0.7,test=0.7"], "add up to 1.4"),
        (["--source", "ftp://x/y", "--dataset", "d"], "no other URL scheme is supported"),
        (["--source", "sample:cifar", "--dataset", "d"], "unknown sample 'cifar'"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str) -> None:
    code = run_cli("ingest", "--root", str(tmp_path), *args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code in (1, 2) and len(err) == 1 and message in err[0], err


def test_events_record_the_run(tmp_path: Path) -> None:
    assert ingest(tmp_path, "sample:digits", "digits", "--run-id", "r1") == 0
    events = [json.loads(line) for line in (tmp_path / "runs" / "r1" / "events.jsonl").read_text().splitlines()]
    assert events[0]["type"] == "started" and events[-1]["type"] == "finished"
    assert events[-1]["version"] == 1 and events[-1]["examples"]["train"] == 1438


def test_dataset_list_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ingest(tmp_path, make_npz(tmp_path / "d.npz", rows=40), "d")
    capsys.readouterr()
    assert run_cli("dataset", "list", "--root", str(tmp_path)) == 0
    assert capsys.readouterr().out == "d\t1\n"
    assert run_cli("dataset", "verify", "d", "--root", str(tmp_path)) == 0
    assert "d@1: ok (40 examples in" in capsys.readouterr().out
    directory, manifest = dataset(tmp_path, "d")
    shard = directory / manifest["splits"]["train"]["shards"][0]["file"]
    shard.write_bytes(shard.read_bytes()[:-1] + b"X")
    assert run_cli("dataset", "verify", "d@1", "--root", str(tmp_path)) == 1
    assert "is corrupt" in capsys.readouterr().err
    assert run_cli("dataset", "verify", "d@7", "--root", str(tmp_path)) == 1
    assert "has no version 7" in capsys.readouterr().err


def test_dataset_verify_waits_for_the_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """What the chart's helm test does while the Job is still running."""
    import threading

    source = make_npz(tmp_path / "d.npz", rows=40)
    later = threading.Timer(1.0, lambda: ingest(tmp_path, source, "late"))
    later.start()
    try:
        assert run_cli("dataset", "verify", "late", "--wait", "60", "--root", str(tmp_path)) == 0
    finally:
        later.join()
    assert "late@1: ok" in capsys.readouterr().out
    assert run_cli("dataset", "verify", "never", "--wait", "0.2", "--root", str(tmp_path)) == 1
