"""Integer versions that are monotonic and never reused, even across nodes.

A version is claimed by creating ``<parent>/.versions/<n>`` with ``mkdir``,
which is atomic on local file systems, NFS and EFS alike (unlike ``flock``,
which NFS does not honour everywhere). Claims are never removed, so a number
whose publish failed is skipped rather than reused, and the next claim is
always above every earlier one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from dlpipe.failpoints import step

RESERVATIONS = ".versions"
_VERSION = re.compile(r"[1-9][0-9]*")


def parse_version(name: str) -> int | None:
    """The version a directory name stands for, or None (``007``, ``.tmp-1``, ``x``)."""
    return int(name) if _VERSION.fullmatch(name) else None


def _highest(directory: Path) -> int:
    if not directory.is_dir():
        return 0
    found = (parse_version(entry.name) for entry in directory.iterdir())
    return max((v for v in found if v is not None), default=0)


def allocate_version(parent: Path) -> int:
    """Claim the next free version under ``parent`` and return it."""
    reservations = parent / RESERVATIONS
    reservations.mkdir(parents=True, exist_ok=True)
    candidate = max(_highest(reservations), _highest(parent)) + 1
    while True:
        try:
            step("mkdir", reservations / str(candidate))
            os.mkdir(reservations / str(candidate))
            return candidate
        except FileExistsError:
            candidate += 1  # another writer claimed it first


def list_versions(parent: Path, complete_marker: str | None = None) -> list[int]:
    """Published versions under ``parent``, ascending.

    With ``complete_marker``, a version directory counts only when that file is
    in it (publish puts it in before the one rename that makes the version visible).
    """
    if not parent.is_dir():
        return []
    versions = []
    for entry in parent.iterdir():
        version = parse_version(entry.name)
        if version is None or not entry.is_dir():
            continue
        if complete_marker is None or (entry / complete_marker).is_file():
            versions.append(version)
    return sorted(versions)
