"""The shared volume's layout: the contract between stages.

This is the only module that knows where things live under the root (``/data``
in a pod, ``./.dlpipe`` locally); the charts get the same names from the
generated ``dlpipe-common/templates/_layout.tpl``::

    datasets/<dataset>/<version>/manifest.json and <split>-00000-of-000NN.tfrecord[.gz]
    datasets/<dataset>/events.jsonl          ingest's events when it belongs to no run
    runs/<run-id>/config.json, checkpoints/, logs/, history.json, events.jsonl, curves.png
    runs/<run-id>/export/                    candidate SavedModel (ExportPaths)
    runs/<run-id>/evaluation/                metrics.json, blessing.json, report.html (EvaluationPaths)
    models/<model>/<version>/                what TensorFlow Serving loads (ExportPaths); only publish writes here
    .cache/ .probe/ .versions/ .tmp-*        hidden: scratch, health checks, version claims, staging
    .events/refused.jsonl                    events of stages that failed before they produced anything

Stages ask it for paths and use :meth:`Layout.publish_dataset` /
:meth:`Layout.publish_model` to make outputs appear whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlpipe import atomic
from dlpipe.errors import ConfigError, DlpipeError
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
MANIFEST = "manifest.json"  # marks a dataset version complete
SAVED_MODEL = "saved_model.pb"  # marks an export or model version complete
EVENTS = "events.jsonl"

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


def _visible_dirs(parent: Path) -> list[Path]:
    """Sub-directories that are not hidden (staging, scratch and claims start with a dot)."""
    if not parent.is_dir():
        return []
    return [entry for entry in parent.iterdir() if entry.is_dir() and not entry.name.startswith(".")]


def shard_name(split: str, index: int, count: int, compressed: bool) -> str:
    """``train-00003-of-00008.tfrecord.gz``: sorts in order, tells the total."""
    suffix = ".tfrecord.gz" if compressed else ".tfrecord"
    return f"{split}-{index:05d}-of-{count:05d}{suffix}"


@dataclass(frozen=True)
class ExportPaths:
    """A SavedModel as TF Serving loads it: a run's export, or a published model version."""

    dir: Path

    @property
    def saved_model(self) -> Path:
        return self.dir / SAVED_MODEL

    @property
    def assets_extra(self) -> Path:
        return self.dir / "assets.extra"

    @property
    def warmup(self) -> Path:
        """TF Serving replays these requests before it reports the version AVAILABLE (name fixed by TF Serving)."""
        return self.assets_extra / "tf_serving_warmup_requests"

    @property
    def lineage(self) -> Path:
        return self.assets_extra / "dlpipe-lineage.json"

    def is_complete(self) -> bool:
        return self.saved_model.is_file()


@dataclass(frozen=True)
class EvaluationPaths:
    """One evaluation of a run: written as a whole directory, replaced as a whole."""

    dir: Path

    @property
    def metrics(self) -> Path:
        return self.dir / "metrics.json"

    @property
    def blessing(self) -> Path:
        return self.dir / "blessing.json"

    @property
    def report(self) -> Path:
        return self.dir / "report.html"

    @property
    def confusion_matrix(self) -> Path:
        return self.dir / "confusion_matrix.png"

    @property
    def training_curves(self) -> Path:
        return self.dir / "training_curves.png"

    @property
    def roc_pr_curves(self) -> Path:
        return self.dir / "roc_pr_curves.png"


@dataclass(frozen=True)
class RunPaths:
    """Everything one training run owns under ``runs/<run-id>/``."""

    dir: Path

    @property
    def id(self) -> str:
        return self.dir.name

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
        return self.dir / EVENTS

    @property
    def curves(self) -> Path:
        return self.dir / "curves.png"

    @property
    def export(self) -> ExportPaths:
        return ExportPaths(self.dir / "export")

    @property
    def evaluation(self) -> EvaluationPaths:
        return EvaluationPaths(self.dir / "evaluation")

    def worker_scratch(self, index: int) -> Path:
        """Where a non-chief worker writes the checkpoints multi-worker training makes it write."""
        return self.dir / f".worker-{index}"


@dataclass
class Publication:
    """A version being built in ``dir``, a hidden staging directory; see :meth:`Layout.publish_dataset`."""

    parent: Path
    dir: Path
    owner: str = ""
    version: int | None = None

    def claim(self) -> int:
        """The version number this publication will have (claimed once, never reused)."""
        if self.version is None:
            self.version = allocate_version(self.parent, self.owner)
        return self.version


@dataclass(frozen=True)
class Layout:
    root: Path

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Layout:
        """The volume named by the ``root`` setting (``--root`` / ``DLPIPE_ROOT``), else the default."""
        return cls(Path(config["root"]) if config.get("root") else cls.default_root())

    @classmethod
    def default_root(cls) -> Path:
        """``/data`` inside a pod (where the charts mount the volume), else ``./.dlpipe``."""
        in_pod = "KUBERNETES_SERVICE_HOST" in os.environ and DEFAULT_POD_ROOT.is_dir()
        return DEFAULT_POD_ROOT if in_pod else DEFAULT_LOCAL_ROOT

    @property
    def datasets_dir(self) -> Path:
        return self.root / DATASETS

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS

    @property
    def models_dir(self) -> Path:
        return self.root / MODELS

    # -- datasets ---------------------------------------------------------
    def dataset_dir(self, dataset: str) -> Path:
        return self.datasets_dir / check_name("dataset", dataset)

    def dataset_names(self) -> list[str]:
        """Datasets with at least one complete version, sorted."""
        return sorted(d.name for d in _visible_dirs(self.datasets_dir) if self.dataset_versions(d.name))

    def dataset_version_dir(self, dataset: str, version: int) -> Path:
        return self.dataset_dir(dataset) / str(version)

    def manifest_path(self, dataset: str, version: int) -> Path:
        return self.dataset_version_dir(dataset, version) / MANIFEST

    def dataset_versions(self, dataset: str) -> list[int]:
        """Complete dataset versions: those whose manifest has been moved in."""
        return list_versions(self.dataset_dir(dataset), complete_marker=MANIFEST)

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
    def run_paths(self, run_id: str) -> RunPaths:
        return RunPaths(self.runs_dir / check_name("run id", run_id))

    def run_ids(self) -> list[str]:
        """Every run directory, oldest first (by modification time)."""
        runs = sorted(_visible_dirs(self.runs_dir), key=lambda d: d.stat().st_mtime)
        return [d.name for d in runs]

    # -- models -----------------------------------------------------------
    def model_dir(self, model: str) -> Path:
        return self.models_dir / check_name("model", model)

    def model_version_dir(self, model: str, version: int) -> Path:
        return self.model_dir(model) / str(version)

    def model_version(self, model: str, version: int) -> ExportPaths:
        return ExportPaths(self.model_version_dir(model, version))

    def model_versions(self, model: str) -> list[int]:
        """Versions TF Serving may load: those whose ``saved_model.pb`` is in place."""
        return list_versions(self.model_dir(model), complete_marker=SAVED_MODEL)

    # -- atomic publishing ------------------------------------------------
    @contextlib.contextmanager
    def publish_dataset(self, dataset: str) -> Iterator[Publication]:
        """Build a dataset version in hidden staging; on success it appears whole, with one rename.

        The caller writes the shards into ``publication.dir``, then claims the
        version number (``publication.claim()``) for the ``manifest.json`` it
        writes last. If the block raises or the process dies, nothing appears:
        not the version, and for a first ingest not even ``datasets/<name>/``.
        """
        with self._publish(self.dataset_dir(dataset), MANIFEST) as publication:
            yield publication

    @contextlib.contextmanager
    def publish_model(self, model: str, owner: str = "") -> Iterator[Publication]:
        """Like :meth:`publish_dataset`, for a SavedModel (``saved_model.pb`` marks it complete).

        ``owner`` (the run id) is recorded with the claimed version number, see
        :func:`dlpipe.versions.claims`.
        """
        with self._publish(self.model_dir(model), SAVED_MODEL, owner) as publication:
            yield publication

    @contextlib.contextmanager
    def _publish(self, parent: Path, marker: str, owner: str = "") -> Iterator[Publication]:
        # Staging siblings of this name's killed publishes (not other names': they sweep their own).
        atomic.remove_stale(parent.parent, prefix=f"{atomic.TMP_PREFIX}{parent.name}-")
        atomic.remove_stale(parent, marker=marker)
        with atomic.staging_dir(parent) as staged:
            publication = Publication(parent, staged, owner)
            yield publication
            atomic.seal(staged, marker)  # before the claim: a version claimed is in place an instant later
            atomic.move_into_place(staged, parent / str(publication.claim()))

    def recover(self, older_than_s: float = atomic.GRACE_S) -> list[Path]:
        """Remove what killed writers left anywhere on the volume (older than the grace period)."""
        removed = []
        for top, marker in ((self.datasets_dir, MANIFEST), (self.models_dir, SAVED_MODEL)):
            removed += atomic.remove_stale(top, older_than_s)
            for entry in _visible_dirs(top):
                removed += atomic.remove_stale(entry, older_than_s, marker=marker)
        removed += atomic.remove_stale(self.runs_dir, older_than_s)
        for run_id in self.run_ids():
            removed += atomic.remove_stale(self.run_paths(run_id).dir, older_than_s)
        removed += atomic.remove_stale(self.cache_dir("work"), older_than_s)
        removed += atomic.remove_stale(self.probe_path("x").parent, older_than_s)
        return removed

    def cache_dir(self, *parts: str) -> Path:
        """Scratch space on the volume (downloads that survive a killed pod, unpacked archives)."""
        return self.root.joinpath(".cache", *parts)

    def dataset_events(self, dataset: str) -> Path:
        """Where ingest records its events when it belongs to no run."""
        return self.dataset_dir(dataset) / EVENTS

    def refused_events(self) -> Path:
        """Events of stage runs that failed or were refused before they produced anything (hidden: not output)."""
        return self.root / ".events" / "refused.jsonl"

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
