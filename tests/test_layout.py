"""The shared-volume contract: paths, names, atomic publish, versions, manifests."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dlpipe import atomic
from dlpipe.errors import ConfigError, DlpipeError
from dlpipe.evaluate import publish
from dlpipe.layout import ExportPaths, Layout, shard_name
from dlpipe.manifest import read_manifest, sha256_file, verify_shards, write_manifest
from dlpipe.versions import CLAIM_WINDOW_S, allocate_version, claims, list_versions


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "vol")


def test_paths_follow_the_design_contract(layout: Layout) -> None:
    root = layout.root
    assert layout.manifest_path("digits", 3) == root / "datasets/digits/3/manifest.json"
    run = layout.run_paths("run-1")
    assert run.config == root / "runs/run-1/config.json"
    assert run.checkpoints == root / "runs/run-1/checkpoints"
    assert run.logs == root / "runs/run-1/logs"
    assert run.history == root / "runs/run-1/history.json"
    assert run.events == root / "runs/run-1/events.jsonl"
    assert run.export.dir == root / "runs/run-1/export"
    assert run.evaluation.dir == root / "runs/run-1/evaluation"
    assert layout.model_version_dir("digits", 7) == root / "models/digits/7"
    assert shard_name("train", 3, 8, compressed=True) == "train-00003-of-00008.tfrecord.gz"
    assert shard_name("test", 0, 1, compressed=False) == "test-00000-of-00001.tfrecord"


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "Digits", "-x", "x-", "a..b", "x" * 64, "/abs"])
def test_names_that_could_escape_or_break_are_refused(layout: Layout, bad: str) -> None:
    with pytest.raises(ConfigError, match="name"):
        layout.dataset_dir(bad)


def test_publish_makes_whole_versions_in_order(layout: Layout) -> None:
    for expected in (1, 2):
        with layout.publish_model("digits") as publication:
            (publication.dir / "variables").mkdir()
            (publication.dir / "variables" / "variables.index").write_bytes(b"idx")
            (publication.dir / "saved_model.pb").write_bytes(b"pb")
            assert layout.model_versions("digits") == list(range(1, expected))  # not visible yet
            assert not layout.model_version_dir("digits", expected).exists()
        assert publication.version == expected
    assert layout.model_versions("digits") == [1, 2]
    assert (layout.model_version_dir("digits", 2) / "variables" / "variables.index").read_bytes() == b"idx"
    assert not [p for p in layout.models_dir.rglob(".tmp-*")]


def test_failed_publish_leaves_nothing_not_even_the_dataset_folder(layout: Layout) -> None:
    with pytest.raises(RuntimeError), layout.publish_dataset("digits") as publication:
        (publication.dir / "train-00000-of-00001.tfrecord").write_bytes(b"half")
        raise RuntimeError("converter crashed")
    assert not layout.dataset_dir("digits").exists(), "a refused first ingest leaves no datasets/<name>/"
    assert list(layout.datasets_dir.iterdir()) == []
    with layout.publish_dataset("digits") as publication:
        assert publication.claim() == 1
        (publication.dir / "manifest.json").write_text("{}")
    with pytest.raises(RuntimeError), layout.publish_dataset("digits") as publication:
        publication.claim()
        raise RuntimeError("killed after its claim")
    with layout.publish_dataset("digits") as publication:
        (publication.dir / "manifest.json").write_text("{}")
    assert publication.version == 3, "a claimed number is never reused"
    assert layout.dataset_versions("digits") == [1, 3]


def test_publish_refuses_a_staging_dir_without_its_marker(layout: Layout) -> None:
    with pytest.raises(FileNotFoundError, match=r"saved_model\.pb"), layout.publish_model("m") as publication:
        (publication.dir / "variables").mkdir()
    assert layout.model_versions("m") == []


def test_recovery_removes_old_leftovers_and_markerless_versions_only(layout: Layout) -> None:
    """Hidden staging dirs and numbered dirs without their marker (older releases) go; recent ones stay."""
    with layout.publish_model("m") as publication:
        (publication.dir / "saved_model.pb").write_bytes(b"pb")
    broken = layout.model_version_dir("m", 7)
    (broken / "variables").mkdir(parents=True)  # an older release killed between its two renames
    staging = layout.models_dir / ".tmp-m-0123456789ab"
    staging.mkdir()
    run = layout.run_paths("r1")
    (run.dir / ".tmp-export-0123456789ab").mkdir(parents=True)
    assert layout.recover() == [], "nothing is removed within the grace period"
    old = time.time() - 2 * 3600
    for path in (broken, staging, run.dir / ".tmp-export-0123456789ab"):
        for inner in (path, *path.rglob("*")):  # untouched for two hours: nothing inside changed either
            os.utime(inner, (old, old))
    assert sorted(layout.recover()) == sorted([broken, staging, run.dir / ".tmp-export-0123456789ab"])
    assert layout.model_versions("m") == [1] and sorted(p.name for p in layout.model_dir("m").iterdir()) == [
        ".versions",
        "1",
    ]


def _allocate_many(parent: str, count: int, queue: multiprocessing.Queue) -> None:
    queue.put([allocate_version(Path(parent)) for _ in range(count)])


def _in_processes(target, processes: int, *args) -> list:
    """Run ``target(*args, queue)`` in separate processes at once; return what each put on the queue."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=target, args=(*args, queue)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    return results


def test_concurrent_allocation_never_duplicates(tmp_path: Path) -> None:
    results = _in_processes(_allocate_many, 6, str(tmp_path), 25)
    allocated = sorted(v for batch in results for v in batch)
    assert allocated == list(range(1, 151)), "duplicates or gaps under concurrency"
    for batch in results:
        assert batch == sorted(batch), "each writer sees monotonic versions"
    assert allocate_version(tmp_path) == 151


def _publish_many(root: str, count: int, queue: multiprocessing.Queue) -> None:
    layout = Layout(Path(root))
    mine = []
    for _ in range(count):
        with layout.publish_dataset("shared") as publication:
            version = publication.claim()
            (publication.dir / "owner").write_text(f"{os.getpid()}:{version}")
            (publication.dir / "manifest.json").write_text("{}")
        mine.append(version)
    queue.put((os.getpid(), mine))


def test_concurrent_publishers_get_distinct_whole_versions(tmp_path: Path) -> None:
    results = _in_processes(_publish_many, 4, str(tmp_path), 5)
    layout = Layout(tmp_path)
    assert layout.dataset_versions("shared") == list(range(1, 21))
    for pid, versions in results:
        for version in versions:
            owner = (layout.dataset_version_dir("shared", version) / "owner").read_text()
            assert owner == f"{pid}:{version}"


def test_version_listing_ignores_non_versions(tmp_path: Path) -> None:
    for name in ("1", "2", "010", ".tmp-3-abc", "latest", "0"):
        (tmp_path / name).mkdir()
    (tmp_path / "5").write_text("a file, not a version")
    (tmp_path / "2" / "saved_model.pb").write_text("x")
    assert list_versions(tmp_path) == [1, 2]
    assert list_versions(tmp_path, complete_marker="saved_model.pb") == [2]


def _manifest(directory: Path) -> dict:
    shard = directory / "train-00000-of-00001.tfrecord"
    shard.write_bytes(b"records")
    return {
        "dataset": "digits",
        "version": 1,
        "format": "tfrecord",
        "features": {"image": {"dtype": "float32", "shape": [8, 8]}},
        "label": {"name": "label", "classes": ["0", "1"]},
        "splits": {
            "train": {"examples": 2, "shards": [{"file": shard.name, "examples": 2, "sha256": sha256_file(shard)}]}
        },
    }


def test_manifest_round_trip_and_shard_verification(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    verify_shards(tmp_path, manifest)
    (tmp_path / "train-00000-of-00001.tfrecord").write_bytes(b"recordz")
    with pytest.raises(DlpipeError, match="corrupt"):
        verify_shards(tmp_path, manifest)
    (tmp_path / "train-00000-of-00001.tfrecord").unlink()
    with pytest.raises(DlpipeError, match="missing"):
        verify_shards(tmp_path, manifest)


def test_manifest_refuses_shard_paths_outside_the_dataset(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    manifest["splits"]["train"]["shards"][0]["file"] = "../../etc/passwd"
    with pytest.raises(DlpipeError, match="invalid manifest"):
        write_manifest(tmp_path, manifest)
    assert not (tmp_path / "manifest.json").exists()


def test_unreadable_manifests_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DlpipeError, match="does not exist"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DlpipeError, match="not valid JSON"):
        read_manifest(tmp_path)


def test_atomic_write_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "config.json"
    atomic.write_text(target, "one")
    atomic.write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["config.json"]


def _export(directory: Path, run_id: str) -> ExportPaths:
    """The files publish copies and reads: a SavedModel marker and the run's lineage."""
    export = ExportPaths(directory)
    export.assets_extra.mkdir(parents=True)
    export.saved_model.write_bytes(b"pb")
    export.lineage.write_text(json.dumps({"run_id": run_id}))
    return export


def test_a_claim_says_who_made_it_and_whether_it_may_still_appear(tmp_path: Path) -> None:
    assert allocate_version(tmp_path, "run-a") == 1
    (tmp_path / ".versions" / "2").mkdir()  # a claim made before claims said who made them
    (claim,) = claims(tmp_path)
    assert (claim.version, claim.owner, claim.pid) == (1, "run-a", os.getpid()) and claim.in_flight(claim.made)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert not dataclasses.replace(claim, pid=int(dead.stdout)).in_flight(claim.made), "its writer is gone"
    later = claim.made + 2 * CLAIM_WINDOW_S  # on the volume's clock, whatever this node's says
    assert not claim.in_flight(later), "it never appeared"
    assert dataclasses.replace(claim, host="another-node").in_flight(claim.made), "another node's writer may be alive"


@pytest.mark.parametrize("skew", [0, 300, -300], ids=["same-clock", "node-ahead", "node-behind"])
def test_the_same_run_in_place_first_under_a_higher_version_reports_the_lower(
    tmp_path: Path, skew: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order that made concurrent publishes disagree: version 2 appears before version 1 of the same
    run. Whatever this node's clock says beside the file server's, which stamps the claims."""
    node_time = time.time
    monkeypatch.setattr(time, "time", lambda: node_time() + skew)
    layout = Layout(tmp_path / "vol")
    first, second = _export(tmp_path / "a", "same"), _export(tmp_path / "b", "same")
    with ThreadPoolExecutor(1) as pool, layout.publish_model("m", owner="same") as slow:
        shutil.copytree(first.dir, slow.dir, dirs_exist_ok=True)
        assert slow.claim() == 1  # claimed, not yet renamed into place
        later = pool.submit(publish.publish, layout, "m", second)
        while layout.model_versions("m") != [2] and not later.done():
            time.sleep(0.01)
        assert not later.done(), "version 2 is in place, but version 1 of the same run is on its way"
    assert later.result(timeout=CLAIM_WINDOW_S) == 1
    assert layout.model_versions("m") == [1], "the later copy is removed"


def test_a_lower_claim_whose_writer_died_does_not_hold_up_publishing(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "vol")
    code = "import sys, pathlib, dlpipe.versions as v; v.allocate_version(pathlib.Path(sys.argv[1]), 'same')"
    subprocess.run([sys.executable, "-c", code, str(layout.model_dir("m"))], check=True)  # claims 1, then exits
    assert publish.publish(layout, "m", _export(tmp_path / "b", "same")) == 2
    assert layout.model_versions("m") == [2]
