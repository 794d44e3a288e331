"""Ingest from and upload to a real S3 HTTP endpoint (moto server on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlpipe.layout import Layout
from dlpipe.manifest import read_manifest, verify_shards
from tests.tooling.net import free_port
from tests.tooling.sample_data import image_bytes, make_image_folders, make_npz, run_cli, zip_folder


def ingest(root: Path, *args: str) -> int:
    return run_cli("ingest", "--root", str(root), "--log-format", "text", *args)


def test_zip_of_class_folders_from_s3(tmp_path: Path, bucket, capsys: pytest.CaptureFixture) -> None:
    archive = zip_folder(make_image_folders(tmp_path / "src"), tmp_path / "pets.zip")
    bucket.upload_file(str(archive), bucket.bucket, "raw/kagglecatsanddogs.zip")
    uri = f"s3://{bucket.bucket}/raw/kagglecatsanddogs.zip"
    assert ingest(tmp_path / "vol", "--source", uri, "--dataset", "pets") == 0
    assert "skipped 1 corrupt image, 1 not an image" in capsys.readouterr().out
    layout = Layout(tmp_path / "vol")
    manifest = read_manifest(layout.dataset_version_dir("pets", 1))
    assert manifest["source"]["uri"] == uri
    assert not (tmp_path / "vol" / ".cache" / "downloads").exists() or not any(
        (tmp_path / "vol" / ".cache" / "downloads").iterdir()
    ), "downloads are removed after a successful ingest"
    # Unchanged object: recognised from the listing alone, nothing downloaded.
    assert ingest(tmp_path / "vol", "--source", uri, "--dataset", "pets") == 0
    assert "pets is up to date: version 1" in capsys.readouterr().out


def test_prefix_of_many_objects(tmp_path: Path, bucket) -> None:
    for label in ("ants", "bees"):
        for i in range(30):
            body = image_bytes((i, 3 * i, 9), "PNG")
            bucket.put_object(Bucket=bucket.bucket, Key=f"insects/{label}/{i:03d}.png", Body=body)
    assert ingest(tmp_path, "--source", f"s3://{bucket.bucket}/insects/", "--dataset", "insects", "--workers", "6") == 0
    directory = Layout(tmp_path).dataset_version_dir("insects", 1)
    manifest = read_manifest(directory)
    verify_shards(directory, manifest)
    assert manifest["label"]["classes"] == ["ants", "bees"]
    assert sum(s["examples"] for s in manifest["splits"].values()) == 60


def test_upload_of_the_finished_dataset(tmp_path: Path, bucket) -> None:
    source = make_npz(tmp_path / "d.npz", rows=50)
    assert (
        ingest(tmp_path, "--source", str(source), "--dataset", "d", "--upload", f"s3://{bucket.bucket}/published") == 0
    )
    keys = {o["Key"] for o in bucket.list_objects_v2(Bucket=bucket.bucket, Prefix="published/d/1/")["Contents"]}
    local = {p.name for p in Layout(tmp_path).dataset_version_dir("d", 1).iterdir()}
    assert keys == {f"published/d/1/{name}" for name in local}
    assert "published/d/1/manifest.json" in keys


def _one_error_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_missing_key(tmp_path: Path, bucket, capsys: pytest.CaptureFixture) -> None:
    assert ingest(tmp_path, "--source", f"s3://{bucket.bucket}/no/such.zip", "--dataset", "x") == 1
    assert f"s3://{bucket.bucket}/no/such.zip does not exist" in _one_error_line(capsys)


def test_missing_bucket(tmp_path: Path, s3_env: str, capsys: pytest.CaptureFixture) -> None:
    assert ingest(tmp_path, "--source", "s3://no-such-bucket-here/x.zip", "--dataset", "x") == 1
    assert "does not exist" in _one_error_line(capsys)


def test_wrong_credentials(tmp_path: Path, moto_auth_url: str, monkeypatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("DLPIPE_S3__ENDPOINT_URL", moto_auth_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert ingest(tmp_path, "--source", "s3://secured/data.zip", "--dataset", "x") == 1
    line = _one_error_line(capsys)
    assert "s3://secured/data.zip: S3 refused the credentials" in line
    assert "AWS_SECRET_ACCESS_KEY" in line  # says what to fix


def test_endpoint_down(tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture) -> None:
    port = free_port()
    monkeypatch.setenv("DLPIPE_S3__ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert ingest(tmp_path, "--source", "s3://b/data.zip", "--dataset", "x") == 1
    assert f"cannot reach the S3 endpoint http://127.0.0.1:{port}" in _one_error_line(capsys)


def test_reference_000_lower_case_variables(tmp_path: Path, bucket, moto_url: str, monkeypatch) -> None:
    """endpoint_url / aws_access_key_id / … as older MinIO scripts export them."""
    source = make_npz(tmp_path / "d.npz", rows=40)
    bucket.upload_file(str(source), bucket.bucket, "d.npz")
    for name in ("DLPIPE_S3__ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("endpoint_url", moto_url)
    monkeypatch.setenv("aws_access_key_id", "AKIALEGACY")
    monkeypatch.setenv("aws_secret_access_key", "legacy")
    monkeypatch.setenv("signature_version", "s3v4")
    monkeypatch.setenv("region_name", "us-east-1")
    assert ingest(tmp_path, "--source", f"s3://{bucket.bucket}/d.npz", "--dataset", "d") == 0
