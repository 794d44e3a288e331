"""Integer versions that are monotonic and never reused, even across nodes.

A version is claimed by creating the symlink ``<parent>/.versions/<n>``,
which is atomic on local file systems, NFS and EFS alike (unlike ``flock``,
which NFS does not honour everywhere). Claims are never removed, so a number
whose publish failed is skipped rather than reused, and the next claim is
always above every earlier one. The link's target says who claimed it (an
owner such as a run id, the host and the pid): a publisher can then tell a
claim still on its way into place from one whose writer died.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from dlpipe.failpoints import step

RESERVATIONS = ".versions"
# A claim is renamed into place an instant after it is made (the copy is already
# on disk); one older than this that never appeared belongs to a dead writer.
CLAIM_WINDOW_S = 60.0
_VERSION = re.compile(r"[1-9][0-9]*")


def parse_version(name: str) -> int | None:
    """The version a directory name stands for, or None (``007``, ``.tmp-1``, ``x``)."""
    return int(name) if _VERSION.fullmatch(name) else None


def _highest(directory: Path) -> int:
    if not directory.is_dir():
        return 0
    found = (parse_version(entry.name) for entry in directory.iterdir())
    return max((v for v in found if v is not None), default=0)


@dataclass(frozen=True)
class Claim:
    """Who claimed a version, and when."""

    version: int
    owner: str
    host: str
    pid: int
    made: float

    def in_flight(self, now: float) -> bool:
        """Whether its writer may still rename it into place: recent, and not a process known to be dead.

        ``now`` is a time on the volume's clock, such as the ``made`` of a claim just made: claims
        are stamped by the file server, whose clock may differ from this node's by minutes.
        """
        if now - self.made > CLAIM_WINDOW_S:
            return False
        return self.host != socket.gethostname() or _alive(self.pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def allocate_version(parent: Path, owner: str = "") -> int:
    """Claim the next free version under ``parent`` for ``owner`` and return it."""
    reservations = parent / RESERVATIONS
    reservations.mkdir(parents=True, exist_ok=True)
    candidate = max(_highest(reservations), _highest(parent)) + 1
    claimant = json.dumps({"owner": owner, "host": socket.gethostname(), "pid": os.getpid()})
    while True:
        try:
            step("mkdir", reservations / str(candidate))
            os.symlink(claimant, reservations / str(candidate))
            return candidate
        except FileExistsError:
            candidate += 1  # another writer claimed it first


def claims(parent: Path) -> list[Claim]:
    """The claims made under ``parent`` that say who made them, ascending."""
    reservations = parent / RESERVATIONS
    found = []
    for entry in reservations.iterdir() if reservations.is_dir() else ():
        version = parse_version(entry.name)
        try:
            claimant = json.loads(os.readlink(entry))
            made = entry.lstat().st_mtime
            if version is not None:
                found.append(Claim(version, claimant["owner"], claimant["host"], claimant["pid"], made))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a plain directory: a claim from before claims said who made them
    return sorted(found, key=lambda claim: claim.version)


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
