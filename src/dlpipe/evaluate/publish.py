"""Publishing a blessed export as models/<name>/<version>/, and retention."""

from __future__ import annotations

import shutil

from dlpipe import atomic, log
from dlpipe.export import lineage_run_id
from dlpipe.failpoints import step
from dlpipe.layout import ExportPaths, Layout

logger = log.get("publish")


def _versions_of(layout: Layout, model: str, run_id: str) -> list[int]:
    return [v for v in layout.model_versions(model) if lineage_run_id(layout.model_version(model, v)) == run_id]


def find_published(layout: Layout, model: str, run_id: str) -> int | None:
    """The version that holds this run's export (the first, should there be several), or None."""
    return next(iter(_versions_of(layout, model, run_id)), None)


def _copy(source: str, target: str) -> str:
    step("write", target)
    return shutil.copy2(source, target)


def publish(layout: Layout, model: str, export: ExportPaths) -> int:
    """Copy the export into the next version (visible whole, with one rename) and return the run's version.

    A run is published once. Two evaluations of the same run publishing at the
    same instant both publish, then both keep the run's first version and
    remove the later copies (the same weights, so serving either is harmless
    meanwhile); no lock is needed, and a kill in between is mended the same way
    by the next publish of the run.
    """
    with layout.publish_model(model) as publication:
        shutil.copytree(export.dir, publication.dir, dirs_exist_ok=True, copy_function=_copy)
    ours = publication.claim()
    run_id = lineage_run_id(export)
    if run_id is None:
        return ours
    first, *later = _versions_of(layout, model, run_id)
    for version in later:
        logger.info("%s version %d repeats run %s (version %d): removing it", model, version, run_id, first)
        atomic.hide_and_remove(layout.model_version_dir(model, version))
    return first


def retain(layout: Layout, model: str, keep: int, protect: set[int]) -> list[int]:
    """Delete all but the newest ``keep`` versions, never one in ``protect``. Returns the deleted."""
    versions = layout.model_versions(model)
    doomed = [v for v in versions[:-keep] if v not in protect] if keep > 0 else []
    for version in doomed:
        atomic.hide_and_remove(layout.model_version_dir(model, version))
        logger.info("removed %s version %d (keeping %d)", model, version, keep)
    return doomed
