"""Publishing a blessed export as models/<name>/<version>/, and retention."""

from __future__ import annotations

import shutil
import time

from dlpipe import atomic, log
from dlpipe.export import lineage_run_id
from dlpipe.failpoints import step
from dlpipe.layout import ExportPaths, Layout
from dlpipe.versions import CLAIM_WINDOW_S, claims

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

    A run is published once: its lowest version. Two evaluations of the same
    run publishing at the same instant both publish, then both keep the lowest
    and remove the later copies (the same weights, so serving either is
    harmless meanwhile). A publisher whose version appeared first waits for a
    lower version claimed for the run to appear (an instant, see
    :data:`dlpipe.versions.CLAIM_WINDOW_S`), so all agree on which one stays.
    No lock is needed, and a kill in between is mended by the next publish.
    """
    run_id = lineage_run_id(export) or ""
    with layout.publish_model(model, owner=run_id) as publication:
        shutil.copytree(export.dir, publication.dir, dirs_exist_ok=True, copy_function=_copy)
    ours = publication.claim()
    if not run_id:
        return ours
    _await_lower_claims(layout, model, run_id, ours)
    first, *later = _versions_of(layout, model, run_id)
    for version in later:
        logger.info("%s version %d repeats run %s (version %d): removing it", model, version, run_id, first)
        atomic.hide_and_remove(layout.model_version_dir(model, version))
    return first


def _await_lower_claims(layout: Layout, model: str, run_id: str, ours: int) -> None:
    """Wait until no version claimed for ``run_id`` below its lowest in place may still appear."""
    deadline = time.monotonic() + CLAIM_WINDOW_S
    while time.monotonic() < deadline:
        lowest = min([ours, *_versions_of(layout, model, run_id)])
        mine = [claim for claim in claims(layout.model_dir(model)) if claim.owner == run_id]
        now = max(claim.made for claim in mine)  # the volume's clock: our own claim is at most this old
        if not [claim for claim in mine if claim.version < lowest and claim.in_flight(now)]:
            return
        time.sleep(0.05)


def retain(layout: Layout, model: str, keep: int, protect: set[int]) -> list[int]:
    """Delete all but the newest ``keep`` versions, never one in ``protect``. Returns the deleted."""
    versions = layout.model_versions(model)
    doomed = [v for v in versions[:-keep] if v not in protect] if keep > 0 else []
    for version in doomed:
        atomic.hide_and_remove(layout.model_version_dir(model, version))
        logger.info("removed %s version %d (keeping %d)", model, version, keep)
    return doomed
