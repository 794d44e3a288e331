"""The stage images, built from images/Dockerfile by scripts/build-images.sh and run the way the
charts run them: as uid 1000, on a read-only root file system with a writable /tmp and the volume
at /data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.tooling import images
from tools.charts import package_version

pytestmark = [
    pytest.mark.images,
    pytest.mark.skipif(images.why_not_available() is not None, reason=f"{images.why_not_available()}"),
]


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, 1000, 1000)
    return data


def test_storage_image_prepares_and_checks_the_volume(volume: Path) -> None:
    image = images.build("storage")
    config = images.config(image)
    assert config["User"] == "1000:1000" and config["Entrypoint"] == ["dlpipe"] and config["Cmd"] == ["--help"]
    with images.read_only_root(image, volume) as root:
        assert not list(root.glob("usr/*/lib/python3*/*-packages/tools")), "the repository's tools/ is not shipped"
        help_ = images.run_as_pod(root, image, "--help")
        assert help_.returncode == 0 and "ingest" in help_.stdout
        init = images.run_as_pod(root, image, "volume", "init", "--root", "/data")
        assert init.returncode == 0, init.stderr
        check = images.run_as_pod(root, image, "volume", "check", "--root", "/data", "--log-format", "text")
        assert check.returncode == 0 and "reads back" in check.stderr, check.stderr
        denied = images.run_as_pod(root, image, "volume", "init", "--root", "/opt/elsewhere")
        assert denied.returncode == 1 and "Read-only file system" in denied.stderr + denied.stdout
    assert sorted(p.name for p in volume.iterdir()) == [".probe", "datasets", "models", "runs"]


def test_ingest_image_ingests_a_sample(volume: Path) -> None:
    image = images.build("ingest")
    with images.read_only_root(image, volume) as root:
        result = images.run_as_pod(root, image, "ingest", "--source", "sample:digits", "--dataset", "digits",
                                   "--root", "/data")  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        assert "digits version 1" in result.stdout
    manifest = json.loads((volume / "datasets" / "digits" / "1" / "manifest.json").read_text())
    assert manifest["splits"]["train"]["examples"] == 1438


@pytest.mark.parametrize(("stage", "command"), [("train", "train"), ("evaluate", "evaluate"),
                                                ("serving", "serving-ready")])  # fmt: skip
def test_every_stage_image_starts_as_its_charts_run_it(volume: Path, stage: str, command: str) -> None:
    image = images.build(stage)
    config = images.config(image)
    assert config["User"] == "1000:1000" and config["Entrypoint"] == ["dlpipe"]
    assert config["Cmd"] == [command, "--help"] and "HOME=/tmp" in config["Env"]
    assert config["Labels"]["org.opencontainers.image.title"] == f"dlpipe-{stage}"
    assert config["Labels"]["org.opencontainers.image.version"] == package_version()
    with images.read_only_root(image, volume) as root:
        result = images.run_as_pod(root, image, command, "--help")
        assert result.returncode == 0, result.stderr[-2000:]
        version = images.run_as_pod(root, image, "version")
        assert version.returncode == 0 and version.stdout.startswith("dlpipe ")
        if images.stages()[stage].startswith("tensorflow"):
            # Untouched since the base was built: pip met the extra's pin with the base's TensorFlow.
            with images.read_only_root(images.ensure_tf_base(), volume) as base:
                assert _tensorflow(root).stat().st_mtime_ns == _tensorflow(base).stat().st_mtime_ns


def _tensorflow(root: Path) -> Path:
    (init,) = root.glob("usr/*/lib/python3*/*-packages/tensorflow/__init__.py")
    return init
