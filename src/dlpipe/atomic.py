"""Crash-safe file system writes: hidden staging sibling, fsync, one rename.

A reader of the shared volume sees a file or directory whole or not at all,
even when the writer is killed at any instant. Staging siblings start with
``.tmp-`` so listings of the volume skip them; :func:`remove_stale` clears the
leftovers of killed writers once they are older than a grace period.

Why one rename is enough: ``rename(2)`` of a directory onto a name that does
not exist (or is an empty directory) is atomic on local file systems and on
NFS/EFS, where the server performs RENAME as one operation. We do not use
``renameat2(RENAME_NOREPLACE)``: the Linux NFS client does not support it, and
versions need no such guard because each number is claimed once (see
:mod:`dlpipe.versions`). Every durable step reports to :mod:`dlpipe.failpoints`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from dlpipe.failpoints import step

TMP_PREFIX = ".tmp-"
GRACE_S = 3600.0  # a leftover younger than this may belong to a writer still running on another node


def fsync_dir(path: Path) -> None:
    """Persist a directory's entries (creations and renames inside it)."""
    step("fsync", path)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    step("fsync", path)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory below ``root`` (and ``root`` itself), deepest first."""
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in sorted(filenames):
            fsync_file(Path(dirpath, name))
        fsync_dir(Path(dirpath))


def temp_sibling(final: Path) -> Path:
    """A unique hidden name next to ``final`` (same directory, so same file system)."""
    return final.parent / f"{TMP_PREFIX}{final.name}-{uuid.uuid4().hex[:12]}"


def rename(source: Path, target: Path) -> None:
    step("rename", target)
    os.rename(source, target)


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    try:
        step("write", tmp)
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            step("fsync", tmp)
            os.fsync(handle.fileno())
        rename(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def staging_dir(final: Path) -> Iterator[Path]:
    """Yield an empty hidden sibling of ``final``; remove it if the block fails.

    The caller fills it and hands it to :func:`publish_dir`. A killed process
    leaves only a hidden ``.tmp-*`` directory, which :func:`remove_stale` clears.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(final)
    step("mkdir", tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def seal(staged: Path, marker: str | None = None) -> None:
    """Make a filled staging directory durable, ready for its one rename.

    ``marker`` (``saved_model.pb``, ``manifest.json``) is the file readers take
    as "complete"; it must already be in ``staged``: a reader that sees the
    published directory at all sees it whole.
    """
    if marker is not None and not (staged / marker).is_file():
        raise FileNotFoundError(f"{staged / marker} is missing; it is the file that marks a version complete")
    fsync_tree(staged)


def publish_dir(staged: Path, final: Path, marker: str | None = None) -> None:
    """Make a filled staging directory visible as ``final`` with one atomic rename (see :func:`seal`).

    ``final`` must not exist, or be empty.
    """
    seal(staged, marker)
    move_into_place(staged, final)


def move_into_place(staged: Path, final: Path) -> None:
    """The rename of :func:`publish_dir`, for a directory already sealed."""
    try:
        rename(staged, final)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise FileExistsError(f"{final} already exists") from None
        raise
    fsync_dir(final.parent)


def replace_dir(staged: Path, final: Path) -> None:
    """Publish ``staged`` as ``final``, which may exist: the old one is hidden first, then removed.

    Between the two renames ``final`` is absent, never half old and half new.
    """
    if final.exists():
        hidden = temp_sibling(final)
        rename(final, hidden)
        publish_dir(staged, final)
        shutil.rmtree(hidden, ignore_errors=True)
    else:
        publish_dir(staged, final)


def hide_and_remove(path: Path) -> None:
    """Delete a directory so that readers see it vanish at once (renamed away first), never half-deleted.

    Gone already (another process removed it) is fine.
    """
    hidden = temp_sibling(path)
    try:
        rename(path, hidden)
    except FileNotFoundError:
        return
    shutil.rmtree(hidden, ignore_errors=True)


def _last_change(entry: Path) -> float:
    """When anything in ``entry`` last changed: a writer still busy with one big file keeps that file's mtime fresh."""
    latest = entry.lstat().st_mtime
    if entry.is_dir() and not entry.is_symlink():
        for dirpath, dirnames, filenames in os.walk(entry):
            for name in dirnames + filenames:
                with contextlib.suppress(FileNotFoundError):
                    latest = max(latest, os.lstat(os.path.join(dirpath, name)).st_mtime)
    return latest


def remove_stale(
    parent: Path, older_than_s: float = GRACE_S, marker: str | None = None, prefix: str = TMP_PREFIX
) -> list[Path]:
    """Delete leftovers of killed writers in ``parent`` untouched for ``older_than_s``.

    Leftovers are hidden entries starting with ``prefix`` (``.tmp-`` by default;
    a writer sweeps only its own name's) and, with ``marker``, numbered
    directories without that file (older releases published in two renames, and
    TF Serving would try to load such a directory). The age counts from the last
    change anywhere inside, so a writer still running on another node is never
    disturbed. Returns what was removed.
    """
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    cutoff = time.time() - older_than_s
    for entry in parent.iterdir():
        incomplete = marker is not None and entry.name.isdigit() and not (entry / marker).is_file()
        if not (entry.name.startswith(prefix) or incomplete):
            continue
        try:
            if _last_change(entry) > cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                if incomplete:
                    hide_and_remove(entry)
                else:
                    shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except FileNotFoundError:
            continue  # another cleaner got there first
    return removed
