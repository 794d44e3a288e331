"""``dlpipe ingest``: source -> local data -> examples -> splits -> shards -> a published dataset version."""

from __future__ import annotations

import collections
import functools
import gzip
import hashlib
import io
import math
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dlpipe import atomic, log, s3
from dlpipe.errors import ConfigError, DlpipeError
from dlpipe.events import EventSink
from dlpipe.failpoints import step
from dlpipe.ingest import archives, folders, readers, sources
from dlpipe.ingest.splits import assign_splits, carve_validation, parse_splits
from dlpipe.layout import MANIFEST, Layout, check_name, shard_name
from dlpipe.manifest import read_manifest, sha256_file, write_manifest
from dlpipe.progress import Progress
from dlpipe.stage import recorded

logger = log.get("ingest")


@dataclass
class Options:
    """``ingest`` settings; built from the validated configuration, whose schema holds every default."""

    source: str
    dataset: str
    format: str
    label: str | None
    text_column: str | None
    subdir: str | None
    missing: str
    splits: dict[str, float]
    shards: int
    compression: str
    seed: int
    force: bool
    upload: str | None
    sha256: str | None
    workers: int
    limits: archives.Limits

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Options:
        section = dict(config["ingest"])
        for required in ("source", "dataset"):
            if not section.get(required):
                raise ConfigError(f"--{required} is required", f"or set ingest.{required} in the configuration file")
        section.update(
            dataset=check_name("dataset", section["dataset"]),
            splits=parse_splits(section["splits"]),
            limits=archives.Limits(**section["limits"]),
        )
        return cls(**{name: section.get(name) for name in cls.__dataclass_fields__})

    def identity(self) -> dict[str, Any]:
        """The options that decide a dataset's content (with the source's fingerprint)."""
        return {
            "format": self.format,
            "label": self.label,
            "text_column": self.text_column,
            "subdir": self.subdir,
            "missing": self.missing,
            "splits": self.splits,
            "shards": self.shards,
            "compression": self.compression,
            "seed": self.seed,
        }


@dataclass
class Result:
    dataset: str
    version: int
    manifest: Path
    up_to_date: bool
    examples: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def _existing(layout: Layout, opts: Options, fingerprint: str) -> int | None:
    for version in reversed(layout.dataset_versions(opts.dataset)):
        manifest = read_manifest(layout.dataset_version_dir(opts.dataset, version))
        if manifest.get("source", {}).get("fingerprint") == fingerprint and manifest.get("options") == opts.identity():
            return version
    return None


BLOCK_ROWS = 16384
ENCODE_AHEAD_PER_CPU = 4  # images read and verified ahead of the writer, per CPU of the pool


class _HashingFile(io.RawIOBase):
    """A write-only file that hashes what reaches the disk, saving a second read."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.sha256 = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sha256.update(data)
        return self._file.write(data)

    def close(self) -> None:
        self._file.close()
        super().close()


def pod_cpus() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota (a pod's ``limits.cpu``)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except (OSError, ValueError):
        return cpus
    return cpus if quota == "max" else max(1, min(cpus, math.ceil(int(quota) / int(period))))


@functools.cache
def _image_readers() -> tuple[Executor, int]:
    """The process's pool that reads and verifies images (decoding releases the GIL), and how many to run ahead.

    Shared by every shard writer, so images use every CPU of the pod whatever the shard count.
    """
    cpus = pod_cpus()
    return ThreadPoolExecutor(cpus, thread_name_prefix="dlpipe-images"), ENCODE_AHEAD_PER_CPU * cpus


os.register_at_fork(after_in_child=_image_readers.cache_clear)  # a forked child has none of the pool's threads


def _in_order(encode: Callable[[Any], Any], items: Iterable[Any], pool: Executor, ahead: int) -> Iterator[Any]:
    """``encode(item)`` for each item, in order, run on ``pool`` with up to ``ahead`` items in flight."""
    pending: collections.deque[Future] = collections.deque()
    for item in items:
        pending.append(pool.submit(encode, item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _write_shard(
    path: Path, items: Sequence[Any], examples: readers.Examples, compressed: bool, progress: Progress
) -> tuple[dict[str, Any], collections.Counter[int]]:
    """The shard's manifest entry, and how many examples of each class it holds (where items know theirs)."""
    step("write", path)
    if examples.encode_block is None:
        # Other encoders are too cheap to be worth handing to another thread.
        encode = examples.encode
        records = _in_order(encode, items, *_image_readers()) if examples.format == "images" else map(encode, items)
        labels = [examples.label_of(item) if examples.label_of else -1 for item in items]
        classes = _write_records(path, zip(records, labels, strict=True), compressed, progress)
        entry = {"file": path.name, "examples": classes.total(), "sha256": sha256_file(path)}
        return entry, classes
    # Dense data: blocks of TFRecords built by numpy (TF reads gzip files as Python writes them).
    classes = collections.Counter(map(examples.label_of, items) if examples.label_of else [])
    with _HashingFile(path) as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) if compressed else raw as out:
            for start in range(0, len(items), BLOCK_ROWS):
                block = items[start : start + BLOCK_ROWS]
                out.write(examples.encode_block(block))
                progress.advance(len(block))
        digest = raw.sha256.hexdigest()
    return {"file": path.name, "examples": len(items), "sha256": digest}, classes


def _write_records(
    path: Path, records: Iterable[tuple[bytes | None, int]], compressed: bool, progress: Progress
) -> collections.Counter[int]:
    """Write the records that encoded (None: a skipped file); count them by their label."""
    import tensorflow as tf

    options = tf.io.TFRecordOptions(compression_type="GZIP" if compressed else "")
    written: collections.Counter[int] = collections.Counter()
    with tf.io.TFRecordWriter(str(path), options) as writer:
        for record, label in records:
            if record is not None:
                writer.write(record)
                written[label] += 1
            progress.advance()
    return written


def write_splits(
    staged: Path, splits: dict[str, list], examples: readers.Examples, opts: Options, progress: Progress
) -> dict[str, Any]:
    compressed = opts.compression == "gzip"
    jobs = []
    for split, items in splits.items():
        count = max(1, min(opts.shards, len(items)))
        for k in range(count):
            chunk = items[k * len(items) // count : (k + 1) * len(items) // count]
            jobs.append((split, staged / shard_name(split, k, count, compressed), chunk))
    # Threads: image decoding and TFRecord writing release the GIL.
    with ThreadPoolExecutor(max_workers=max(1, opts.workers)) as pool:
        futures = [
            (split, pool.submit(_write_shard, path, chunk, examples, compressed, progress))
            for split, path, chunk in jobs
        ]
        shards: dict[str, list] = collections.defaultdict(list)
        per_class: collections.Counter[int] = collections.Counter()
        for split, future in futures:
            entry, classes = future.result()
            shards[split].append(entry)
            per_class += classes
    # A class folder whose every file was skipped (all corrupt, or a format not read) would train a
    # model that never answers it.
    empty = [name for index, name in enumerate(examples.classes) if examples.label_of and not per_class[index]]
    if empty:
        kinds = ", ".join(sorted(folders.IMAGE_SUFFIXES | folders.TEXT_SUFFIXES))
        skipped = dict(examples.skipped)
        raise DlpipeError(f"class {', '.join(empty)} has no usable examples (all were skipped: {skipped})",
                          f"check the files of that class folder: dlpipe reads {kinds} files that open")  # fmt: skip
    result = {}
    for split, entries in shards.items():
        total = sum(s["examples"] for s in entries)
        if total == 0:
            raise DlpipeError(f"split {split} has no usable examples (all were skipped: {dict(examples.skipped)})")
        result[split] = {"examples": total, "shards": entries}
    return result


def _read(path: Path | None, work: Path, opts: Options) -> readers.Examples:
    if path is None:
        return readers.read_sample(opts.source.removeprefix("sample:"))
    if archives.is_archive(path):
        logger.info("unpacking %s", path.name)
        path = archives.extract(path, work / "unpacked", opts.limits)
    request = readers.Request(opts.format, opts.label, opts.text_column, opts.missing)
    # Messages name the source as the user gave it, not the cache folder it was downloaded or unpacked to.
    return readers.read(folders.Tree(path, opts.source), request, opts.subdir)


def run_stage(opts: Options, layout: Layout, config: dict[str, Any]) -> Result:
    """The ingest stage: its events go to the run's events.jsonl when a run id is set, else the dataset's."""
    run_id = config.get("run_id")
    events_path = layout.run_paths(run_id).events if run_id else layout.dataset_events(opts.dataset)
    with recorded("ingest", config, events_path, layout.refused_events(), run_id) as events:
        if opts.upload:
            s3.require_credentials(config["s3"], opts.upload)
        result = _ingest(opts, layout, config, events)
        if opts.upload:  # also when up to date: an upload cut short is finished by the next run
            target = f"{opts.upload.rstrip('/')}/{opts.dataset}/{result.version}"
            logger.info("uploading to %s", target)
            s3.upload_tree(s3.client(config["s3"]), result.manifest.parent, target, last=MANIFEST)
        events.emit("finished", dataset=result.dataset, version=result.version, up_to_date=result.up_to_date,
                    examples=result.examples, skipped=result.skipped)  # fmt: skip
    return result


def _ingest(opts: Options, layout: Layout, config: dict[str, Any], events: EventSink) -> Result:
    interval = config["progress_interval"]
    source = sources.resolve(opts.source, layout, config, sha256=opts.sha256, workers=opts.workers)
    events.emit("started", dataset=opts.dataset, source=opts.source)
    if not opts.force and source.fingerprint and (version := _existing(layout, opts, source.fingerprint)):
        return Result(opts.dataset, version, layout.manifest_path(opts.dataset, version), up_to_date=True)

    fetching = Progress(f"{opts.dataset}: fetch", "bytes", source.total_bytes, interval, events)
    path = source.fetch(fetching.advance)
    if source.kind in ("s3", "http"):
        fetching.close()
    assert source.fingerprint is not None
    if not opts.force and (version := _existing(layout, opts, source.fingerprint)):
        sources.remove_cache(source)
        return Result(opts.dataset, version, layout.manifest_path(opts.dataset, version), up_to_date=True)

    work = atomic.temp_sibling(layout.cache_dir("work", "ingest"))  # hidden: recovery clears it if killed
    try:
        examples = _read(path, work, opts)
        splits = assign_splits(examples.items, opts.splits, opts.seed)
        carved = carve_validation(splits, examples.label_of, opts.splits, opts.seed) if examples.label_of else None
        holes = examples.missing.section(splits.get("train")) if examples.missing else None
        writing = Progress(f"{opts.dataset}: convert", "examples", sum(map(len, splits.values())), interval, events)
        with layout.publish_dataset(opts.dataset) as publication:
            split_info = write_splits(publication.dir, splits, examples, opts, writing)
            writing.close()
            if carved:
                split_info["validation"]["carved_from"] = carved
            manifest = {
                "dataset": opts.dataset,
                "version": (version := publication.claim()),
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "source": {"uri": opts.source, "fingerprint": source.fingerprint},
                "format": examples.format,
                "compression": opts.compression,
                "options": opts.identity(),
                "features": examples.features,
                "label": {"name": examples.label, "classes": examples.classes},
                "splits": split_info,
                "skipped": dict(examples.skipped),
            }
            if holes is not None:
                manifest["missing"] = holes
            write_manifest(publication.dir, manifest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = Result(
        opts.dataset,
        version,
        layout.manifest_path(opts.dataset, version),
        up_to_date=False,
        examples={s: info["examples"] for s, info in split_info.items()},
        skipped=dict(examples.skipped),
    )
    sources.remove_cache(source)
    return result
