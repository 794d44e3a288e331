"""The shared-volume contract: paths, names, atomic publish, versions, manifests."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dlpipe import atomic
from dlpipe.errors import ConfigError, DlpipeError
from dlpipe.layout import Layout, shard_name
from dlpipe.manifest import read_manifest, sha256_file, verify_shards, write_manifest
from dlpipe.versions import allocate_version, list_versions


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
        with layout.publish_model("digits") as (version, staged):
            assert version == expected
            (staged / "variables").mkdir()
            (staged / "variables" / "variables.index").write_bytes(b"idx")
            (staged / "saved_model.pb").write_bytes(b"pb")
            assert layout.model_versions("digits") == list(range(1, expected))  # not visible yet
    assert layout.model_versions("digits") == [1, 2]
    assert (layout.model_version_dir("digits", 2) / "variables" / "variables.index").read_bytes() == b"idx"
    assert not [p for p in layout.model_dir("digits").iterdir() if p.name.startswith(".tmp-")]


def test_failed_publish_leaves_nothing_and_never_reuses_the_number(layout: Layout) -> None:
    with pytest.raises(RuntimeError), layout.publish_dataset("digits") as (version, staged):
        (staged / "train-00000-of-00001.tfrecord").write_bytes(b"half")
        raise RuntimeError("converter crashed")
    assert version == 1
    assert layout.dataset_versions("digits") == []
    assert not (layout.dataset_dir("digits") / "1").exists()
    assert not [p for p in layout.dataset_dir("digits").iterdir() if p.name.startswith(".tmp-")]
    with layout.publish_dataset("digits") as (version, staged):
        (staged / "manifest.json").write_text("{}")
    assert version == 2


def test_publish_refuses_a_staging_dir_without_its_marker(layout: Layout) -> None:
    with pytest.raises(FileNotFoundError, match=r"saved_model\.pb"), layout.publish_model("m") as (_v, staged):
        (staged / "variables").mkdir()
    assert layout.model_versions("m") == []


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from dlpipe.layout import Layout
    layout = Layout(Path(sys.argv[1]))
    with layout.publish_model("m") as (version, staged):
        print("started", flush=True)
        for i in range(200):
            (staged / f"part-{i:03d}").write_bytes(bytes([i % 256]) * 4096)
        (staged / "saved_model.pb").write_bytes(b"complete")
    """
)


def _start_writer(root: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(root)], stdout=subprocess.PIPE, env=env)
    assert child.stdout is not None and child.stdout.readline().strip() == b"started"
    return child


def test_writer_killed_at_any_point_leaves_no_partial_version(tmp_path: Path) -> None:
    """SIGKILL a publishing process at random moments: a version is whole or absent."""
    root = tmp_path / "vol"
    layout = Layout(root)
    # Calibrate: how long one write-and-publish takes here (not asserted on).
    began = time.monotonic()
    _start_writer(root).wait()
    span = time.monotonic() - began
    rng = random.Random(1234)
    outcomes = {"absent": 0, "whole": 0}
    for _trial in range(30):
        before = len(layout.model_versions("m"))
        child = _start_writer(root)
        time.sleep(rng.uniform(0, 2 * span))  # half the kills land before the end, half after
        child.send_signal(signal.SIGKILL)
        child.wait()
        complete = set(layout.model_versions("m"))
        for entry in layout.model_dir("m").iterdir():
            if entry.name.isdigit() and int(entry.name) in complete:
                parts = sorted(entry.glob("part-*"))
                assert len(parts) == 200, f"version {entry.name} is visible but has {len(parts)} parts"
                assert all(p.stat().st_size == 4096 for p in parts)
                assert (entry / "saved_model.pb").read_bytes() == b"complete"
        outcomes["whole" if len(complete) > before else "absent"] += 1
    assert outcomes["absent"] and outcomes["whole"], f"kills did not cover both cases: {outcomes}"
    # Leftover staging directories are hidden, and cleaned once stale.
    leftovers = [p for p in layout.model_dir("m").iterdir() if p.name.startswith(".tmp-")]
    assert leftovers
    assert sorted(atomic.remove_stale(layout.model_dir("m"), older_than_s=0)) == sorted(leftovers)


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
        with layout.publish_dataset("shared") as (version, staged):
            (staged / "owner").write_text(f"{os.getpid()}:{version}")
            (staged / "manifest.json").write_text("{}")
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
