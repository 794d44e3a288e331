"""Data as people download it: class folders below a wrapper folder, stray files, corrupt images; ``--subdir``.

The same download as a zip, a tar.gz, a local folder and an S3 prefix (moto
server). Messages name the user's source, never the cache folder it was
unpacked or downloaded to.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from dlpipe.layout import Layout
from dlpipe.manifest import read_manifest
from tests.tooling.sample_data import image_bytes, make_pets_download, run_cli, tar_folder, zip_contents

SKIPPED = {"corrupt image": 1, "not an image": 1, "file outside the class folders": 2}


def ingest(root: Path, source: str, *extra: str) -> int:
    return run_cli("ingest", "--root", str(root), "--source", source, "--dataset", "pets", "--log-format", "text",
                   *extra)  # fmt: skip


def manifest(root: Path) -> dict:
    layout = Layout(root)
    return read_manifest(layout.dataset_version_dir("pets", layout.dataset_versions("pets")[-1]))


def one_error(capsys: pytest.CaptureFixture) -> str:
    """The one line the error is (besides the log's INFO lines)."""
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("INFO ")]
    assert len(err) == 1, err
    assert ".cache" not in err[0], "messages name the user's source, not a cache folder"
    return err[0]


@pytest.fixture(scope="module")
def download(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pets_download(tmp_path_factory.mktemp("kagglecatsanddogs"))


@pytest.mark.parametrize("shape", ["zip", "tar", "folder"])
def test_wrapper_folder_stray_files_and_corrupt_images(
    tmp_path: Path, download: Path, shape: str, capsys: pytest.CaptureFixture
) -> None:
    source = {
        "zip": lambda: zip_contents(download, tmp_path / "kagglecatsanddogs.zip"),
        # tar_folder adds the folder itself: a second wrapper around PetImages/ and the stray files.
        "tar": lambda: tar_folder(download, tmp_path / "pets.tar.gz"),
        "folder": lambda: download,
    }[shape]()
    assert ingest(tmp_path / "vol", str(source)) == 0
    captured = capsys.readouterr()
    wrapper = f"{download.name}/" if shape == "tar" else ""
    assert f"class folders in {source}/{wrapper}PetImages: Cat, Dog" in captured.err
    strays = f"{wrapper}MSR-LA - 3467.docx, {wrapper}readme[1].txt"
    assert f"ignored 2 file(s) beside the class folders: {strays}" in captured.err
    assert "skipped 1 corrupt image, 2 file outside the class folders, 1 not an image" in captured.out
    found = manifest(tmp_path / "vol")
    assert found["label"]["classes"] == ["Cat", "Dog"] and found["skipped"] == SKIPPED
    assert sum(split["examples"] for split in found["splits"].values()) == 12


def _mixed_zip(path: Path) -> Path:
    """photos/{cat,dog}/ beside docs/manual/: the guess takes photos and docs for the classes."""
    with zipfile.ZipFile(path, "w") as zf:
        for index, name in enumerate(("cat", "dog")):
            for i in range(3):
                zf.writestr(f"photos/{name}/{i}.png", image_bytes((50 * i, 90 * index, 3), "PNG"))
        zf.writestr("docs/manual/index.html", "<p>how to</p>")
    return path


def test_a_wrong_guess_names_the_folders_and_subdir_picks_one(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    archive = _mixed_zip(tmp_path / "mixed.zip")
    assert ingest(tmp_path / "vol", str(archive)) == 1
    assert one_error(capsys).endswith(
        f"{archive}: class folder(s) docs hold no images (folders: docs/, docs/manual/, photos/, photos/cat/, "
        "photos/dog/; pass --subdir PATH to name the folder that holds one folder per class)"
    )
    assert Layout(tmp_path / "vol").dataset_versions("pets") == []
    assert ingest(tmp_path / "vol", str(archive), "--subdir", "photos") == 0
    assert manifest(tmp_path / "vol")["label"]["classes"] == ["cat", "dog"]
    assert manifest(tmp_path / "vol")["options"]["subdir"] == "photos"


def test_one_class_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with zipfile.ZipFile(tmp_path / "cats.zip", "w") as zf:
        zf.writestr("PetImages/Cat/0.png", image_bytes((1, 2, 3), "PNG"))
        zf.writestr("readme.txt", "cats only")
    assert ingest(tmp_path / "vol", str(tmp_path / "cats.zip")) == 1
    assert one_error(capsys).endswith(
        f"{tmp_path / 'cats.zip'}/PetImages: found 1 class folder(s) (Cat); need at least two, one per label "
        "(folders: PetImages/, PetImages/Cat/; pass --subdir PATH to name the folder that holds one folder per class)"
    )


@pytest.mark.parametrize(
    ("subdir", "code", "message"),
    [
        ("../etc", 2, "--subdir '../etc' is not a path inside the source (e.g. --subdir PetImages)"),
        ("/PetImages", 2, "--subdir '/PetImages' is not a path inside the source (e.g. --subdir PetImages)"),
        ("Pets", 1, "--subdir Pets: {source} has no such folder (folders: PetImages/, PetImages/Cat/, PetImages/Dog/)"),
    ],
)
def test_bad_subdir(
    tmp_path: Path, download: Path, subdir: str, code: int, message: str, capsys: pytest.CaptureFixture
) -> None:
    archive = zip_contents(download, tmp_path / "pets.zip")
    assert ingest(tmp_path / "vol", str(archive), "--subdir", subdir) == code
    assert one_error(capsys).endswith(message.format(source=archive))


def test_subdir_names_a_file_inside_an_archive(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as zf:
        zf.writestr("data/train.csv", "x,label\n" + "".join(f"{i},{i % 2}\n" for i in range(30)))
        zf.writestr("data/other.csv", "y,label\n1,0\n")
    assert ingest(tmp_path / "vol", str(tmp_path / "bundle.zip"), "--subdir", "data/train.csv") == 0
    assert manifest(tmp_path / "vol")["features"]["x"] == {"dtype": "int64", "shape": []}


def _upload(bucket, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            bucket.upload_file(str(path), bucket.bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")


def test_s3_prefix_with_a_wrapper_and_subdir(
    tmp_path: Path, download: Path, bucket, capsys: pytest.CaptureFixture
) -> None:
    _upload(bucket, download, "raw/kaggle")
    uri = f"s3://{bucket.bucket}/raw/kaggle/"
    assert ingest(tmp_path / "vol", uri) == 0
    captured = capsys.readouterr()
    assert f"class folders in s3://{bucket.bucket}/raw/kaggle/PetImages: Cat, Dog" in captured.err
    assert "ignored 2 file(s) beside the class folders: MSR-LA - 3467.docx, readme[1].txt" in captured.err
    assert manifest(tmp_path / "vol")["skipped"] == SKIPPED
    assert ingest(tmp_path / "vol", uri, "--subdir", "PetImages/Dog") == 1
    assert one_error(capsys).endswith(
        f"{uri.rstrip('/')}/PetImages/Dog: found 0 class folder(s); need at least two, one per label (folders: "
        "PetImages/, PetImages/Cat/, PetImages/Dog/; pass --subdir PATH to name the folder that holds one folder "
        "per class)"
    )
    assert ingest(tmp_path / "vol", uri, "--subdir", "PetImages") == 0
    assert manifest(tmp_path / "vol")["skipped"] == {"corrupt image": 1, "not an image": 1}


def test_a_folder_of_several_tables(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    for name in ("2023.csv", "2024.csv"):
        (folder / name).write_text("x,label\n1,0\n2,1\n")
    assert ingest(tmp_path / "vol", str(folder), "--format", "csv") == 1
    expected = f"{folder}: expected one data file, found 2 (point --source or --subdir at the file)"
    assert one_error(capsys).endswith(expected)
    assert ingest(tmp_path / "vol", str(folder), "--subdir", "2024.csv", "--splits", "train=0.5,test=0.5") == 0
