"""Crash-safe file system writes: temporary sibling, fsync, rename.

A reader of the shared volume sees a file or directory whole or not at all,
even when the writer is killed half-way. Temporary siblings start with ``.tmp-``
so listings of the volume skip them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = ".tmp-"


def fsync_dir(path: Path) -> None:
    """Persist a directory's entries (creations and renames inside it)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory below ``root`` (and ``root`` itself)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def temp_sibling(final: Path) -> Path:
    """A unique hidden name next to ``final`` (same directory, so same file system)."""
    return final.parent / f"{TMP_PREFIX}{final.name}-{uuid.uuid4().hex[:12]}"


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def staging_dir(final: Path) -> Iterator[Path]:
    """Yield an empty temporary sibling of ``final``; remove it if the block fails.

    The caller fills it and hands it to :func:`publish_dir`. A killed process
    leaves only a hidden ``.tmp-*`` directory, which :func:`remove_stale` clears.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(final)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish_dir(staged: Path, final: Path, last: str | None = None) -> None:
    """Move a filled staging directory to ``final``, with ``last`` moved in last.

    ``final`` must not exist (versions are allocated, never overwritten). The
    file named ``last`` (``saved_model.pb``, ``manifest.json``) is what readers
    take as "complete": it is held back, the directory is renamed into place,
    then ``last`` is renamed in, so a reader that sees it sees everything.
    """
    if final.exists():
        raise FileExistsError(f"{final} already exists")
    fsync_tree(staged)
    held: Path | None = None
    if last is not None:
        if not (staged / last).is_file():
            raise FileNotFoundError(f"{staged / last} is missing; it is the file that marks {final} complete")
        held = temp_sibling(final.parent / last)
        os.rename(staged / last, held)
    os.rename(staged, final)
    if held is not None:
        os.rename(held, final / last)
        fsync_dir(final)
    fsync_dir(final.parent)


def remove_stale(parent: Path, older_than_s: float = 3600.0) -> list[Path]:
    """Delete ``.tmp-*`` leftovers of killed writers older than ``older_than_s``.

    The age guard keeps a writer that is still running on another node safe.
    """
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    cutoff = time.time() - older_than_s
    for entry in parent.iterdir():
        if not entry.name.startswith(TMP_PREFIX):
            continue
        try:
            if entry.lstat().st_mtime > cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except FileNotFoundError:
            continue  # another cleaner got there first
    return removed
