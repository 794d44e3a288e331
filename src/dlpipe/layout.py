"""The shared volume's layout: the contract between stages.

This is the only module that knows where things live under the root (``/data``
in a pod, ``./.dlpipe`` locally)::

    datasets/<dataset>/<version>/manifest.json and <split>-00000-of-000NN.tfrecord[.gz]
    runs/<run-id>/config.json, checkpoints/, logs/, history.json, events.jsonl,
                  export/, evaluation/
    models/<model>/<version>/      what TensorFlow Serving loads; only publish writes here

Stages ask it for paths and use :meth:`Layout.publish_dataset` /
:meth:`Layout.publish_model` to make outputs appear whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dlpipe import atomic
from dlpipe.errors import ConfigError, DlpipeError
from dlpipe.manifest import MANIFEST_NAME
from dlpipe.versions import allocate_version, list_versions

DEFAULT_POD_ROOT = Path("/data")
DEFAULT_LOCAL_ROOT = Path(".dlpipe")
# Where the charts mount the stage's configuration file (a ConfigMap).
CONFIG_DIR = Path("/etc/dlpipe")
CONFIG_FILE = "config.yaml"

DATASETS = "datasets"
RUNS = "runs"
MODELS = "models"
TOP_LEVEL = (DATASETS, RUNS, MODELS)
SAVED_MODEL = "saved_model.pb"

# Lower-case DNS-label-like names: safe as directory names, Kubernetes label
# values and TF Serving model names, and never a path escape (no "/" or "..").
_NAME = re.compile(r"[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?")


def check_name(kind: str, name: str) -> str:
    if not _NAME.fullmatch(name) or ".." in name:
        raise ConfigError(
            f"{kind} name {name!r} is not allowed",
            "use 1-63 lower-case letters, digits, '.', '_' or '-', starting and ending with a letter or digit",
        )
    return name


def parse_dataset_ref(text: str) -> tuple[str, int | None]:
    """``digits`` or ``digits@3`` -> (name, version or None for the latest)."""
    name, _, version = text.partition("@")
    if version and not version.isdigit():
        raise DlpipeError(f"{text!r}: the version after @ must be a number")
    return check_name("dataset", name), int(version) if version else None


def shard_name(split: str, index: int, count: int, compressed: bool) -> str:
    """``train-00003-of-00008.tfrecord.gz``: sorts in order, tells the total."""
    suffix = ".tfrecord.gz" if compressed else ".tfrecord"
    return f"{split}-{index:05d}-of-{count:05d}{suffix}"


@dataclass(frozen=True)
class RunPaths:
    """Everything one training run owns under ``runs/<run-id>/``."""

    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "config.json"

    @property
    def checkpoints(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    @property
    def history(self) -> Path:
        return self.dir / "history.json"

    @property
    def events(self) -> Path:
        return self.dir / "events.jsonl"

    @property
    def export(self) -> Path:
        return self.dir / "export"

    @property
    def evaluation(self) -> Path:
        return self.dir / "evaluation"

    def worker_scratch(self, index: int) -> Path:
        """Where a non-chief worker writes the checkpoints multi-worker training makes it write."""
        return self.dir / f".worker-{index}"


@dataclass(frozen=True)
class Layout:
    root: Path

    @classmethod
    def default_root(cls) -> Path:
        """``/data`` inside a pod (where the charts mount the volume), else ``./.dlpipe``."""
        in_pod = "KUBERNETES_SERVICE_HOST" in os.environ and DEFAULT_POD_ROOT.is_dir()
        return DEFAULT_POD_ROOT if in_pod else DEFAULT_LOCAL_ROOT

    # -- datasets ---------------------------------------------------------
    def dataset_dir(self, dataset: str) -> Path:
        return self.root / "datasets" / check_name("dataset", dataset)

    def dataset_version_dir(self, dataset: str, version: int) -> Path:
        return self.dataset_dir(dataset) / str(version)

    def manifest_path(self, dataset: str, version: int) -> Path:
        return self.dataset_version_dir(dataset, version) / MANIFEST_NAME

    def dataset_versions(self, dataset: str) -> list[int]:
        """Complete dataset versions: those whose manifest has been moved in."""
        return list_versions(self.dataset_dir(dataset), complete_marker=MANIFEST_NAME)

    def dataset_version(self, dataset: str, version: int | None) -> int:
        """``version`` if it is published, the latest if None; else a clear error."""
        versions = self.dataset_versions(dataset)
        if not versions:
            raise DlpipeError(f"dataset {dataset} has no versions under {self.root}", "run `dlpipe ingest` first")
        if version is None:
            return versions[-1]
        if version not in versions:
            raise DlpipeError(
                f"dataset {dataset} has no version {version}", f"versions: {', '.join(map(str, versions))}"
            )
        return version

    # -- runs -------------------------------------------------------------
    def run(self, run_id: str) -> RunPaths:
        return RunPaths(self.root / "runs" / check_name("run id", run_id))

    # -- models -----------------------------------------------------------
    def model_dir(self, model: str) -> Path:
        return self.root / "models" / check_name("model", model)

    def model_version_dir(self, model: str, version: int) -> Path:
        return self.model_dir(model) / str(version)

    def model_versions(self, model: str) -> list[int]:
        """Versions TF Serving may load: those whose ``saved_model.pb`` is in place."""
        return list_versions(self.model_dir(model), complete_marker=SAVED_MODEL)

    # -- atomic publishing ------------------------------------------------
    @contextlib.contextmanager
    def publish_dataset(self, dataset: str) -> Iterator[tuple[int, Path]]:
        """Yield ``(version, staging_dir)``; on success the dataset version appears whole.

        The caller writes shards and ``manifest.json`` into the staging
        directory. If the block raises or the process dies, no version appears.
        """
        with self._publish(self.dataset_dir(dataset), MANIFEST_NAME) as staged:
            yield staged

    @contextlib.contextmanager
    def publish_model(self, model: str) -> Iterator[tuple[int, Path]]:
        """Like :meth:`publish_dataset`, for a SavedModel; ``saved_model.pb`` goes in last."""
        with self._publish(self.model_dir(model), SAVED_MODEL) as staged:
            yield staged

    @contextlib.contextmanager
    def _publish(self, parent: Path, last: str) -> Iterator[tuple[int, Path]]:
        atomic.remove_stale(parent)
        version = allocate_version(parent)
        final = parent / str(version)
        with atomic.staging_dir(final) as staged:
            yield version, staged
            atomic.publish_dir(staged, final, last=last)

    def cache_dir(self, *parts: str) -> Path:
        """Scratch space on the volume (downloads that survive a killed pod, unpacked archives)."""
        return self.root.joinpath(".cache", *parts)

    def dataset_events(self, dataset: str) -> Path:
        """Where ingest records its events when it belongs to no run."""
        return self.dataset_dir(dataset) / "events.jsonl"

    def probe_path(self, name: str) -> Path:
        """Scratch file for volume health checks; hidden, so no stage ever lists it."""
        return self.root / ".probe" / name

    def top_level(self) -> list[Path]:
        return [self.root / name for name in TOP_LEVEL]

    def ensure_tree(self) -> list[Path]:
        """Create the top-level directories; return them."""
        created = self.top_level()
        for path in created:
            path.mkdir(parents=True, exist_ok=True)
        return created
