"""Publishing a blessed export as models/<name>/<version>/, and retention."""

from __future__ import annotations

import shutil

from dlpipe import atomic, log
from dlpipe.export import lineage_run_id
from dlpipe.failpoints import step
from dlpipe.layout import ExportPaths, Layout

logger = log.get("publish")


def find_published(layout: Layout, model: str, run_id: str) -> int | None:
    for version in layout.model_versions(model):
        if lineage_run_id(layout.model_version(model, version)) == run_id:
            return version
    return None


def _copy(source: str, target: str) -> str:
    step("write", target)
    return shutil.copy2(source, target)


def publish(layout: Layout, model: str, export: ExportPaths) -> int:
    """Copy the export into the next version; TF Serving sees it only once saved_model.pb is in."""
    with layout.publish_model(model) as publication:
        shutil.copytree(export.dir, publication.dir, dirs_exist_ok=True, copy_function=_copy)
    return publication.claim()


def retain(layout: Layout, model: str, keep: int, protect: set[int]) -> list[int]:
    """Delete all but the newest ``keep`` versions, never one in ``protect``. Returns the deleted."""
    versions = layout.model_versions(model)
    doomed = [v for v in versions[:-keep] if v not in protect] if keep > 0 else []
    for version in doomed:
        atomic.hide_and_remove(layout.model_version_dir(model, version))
        logger.info("removed %s version %d (keeping %d)", model, version, keep)
    return doomed
