"""Preparing and checking the shared volume (the storage chart's Job and helm test)."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from dlpipe import atomic
from dlpipe.errors import ConfigError, DlpipeError
from dlpipe.layout import Layout

# setgid keeps the group on everything stages create below; group-writable so
# pods running with another uid but the same fsGroup/gid can share the tree.
TREE_MODE = 0o2775


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int

    @classmethod
    def parse(cls, text: str) -> Owner:
        try:
            uid, _, gid = text.partition(":")
            owner = cls(int(uid), int(gid or uid))
        except ValueError:
            raise ConfigError(f"--owner {text!r} is not UID:GID", "for example --owner 1000:1000") from None
        if owner.uid < 0 or owner.gid < 0:
            raise ConfigError(f"--owner {text!r} has a negative id")
        return owner


def init_volume(layout: Layout, owner: Owner | None) -> list[Path]:
    """Create the top-level tree, owned by ``owner`` with mode 2775. Safe to re-run.

    Symbolic links are never followed. The storage chart runs this as root, on a volume that
    every stage (and whoever else can write to it) may change: a ``datasets`` replaced by a
    link to elsewhere would otherwise hand that place to the stages' uid. Each directory is
    opened without following links, relative to its already-opened parent, and changed
    through that descriptor, so a link swapped in between the check and the change cannot
    redirect it either.
    """
    layout.root.mkdir(parents=True, exist_ok=True)
    root = _open_directory(layout.root)
    try:
        _set_owner_and_mode(root, layout.root, owner)
        for path in layout.top_level():
            with contextlib.suppress(FileExistsError):
                os.mkdir(path.name, dir_fd=root)
            directory = _open_directory(path, parent=root)
            try:
                _set_owner_and_mode(directory, path, owner)
            finally:
                os.close(directory)
    finally:
        os.close(root)
    return [layout.root, *layout.top_level()]


def _open_directory(path: Path, parent: int | None = None) -> int:
    """A descriptor of the directory ``path`` (its last part, relative to ``parent``), not of a link."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path.name if parent is not None else path, flags, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise DlpipeError(
                f"{path} is a symbolic link or not a directory: its owner and mode are left alone",
                "remove it; `dlpipe volume init` then creates the directory",
            ) from None
        raise DlpipeError(f"cannot open {path}: {exc.strerror}") from None


def _set_owner_and_mode(directory: int, path: Path, owner: Owner | None) -> None:
    try:
        if owner is not None:
            os.fchown(directory, owner.uid, owner.gid)
        os.fchmod(directory, TREE_MODE)
    except PermissionError as exc:
        raise DlpipeError(
            f"cannot set owner/mode of {path}: {exc.strerror}",
            "the prepare Job needs CAP_CHOWN, and NFS exports with root_squash refuse it; "
            "chown the export on the server or use an EFS access point with a POSIX user",
        ) from None


def create_tree(layout: Layout) -> list[Path]:
    """Create the top-level directories that are missing, mode 2775; return those created.

    What a fresh volume needs before any stage runs, so that no prepare Job is required where
    the stages' uid may write to the volume's root (an EFS access point, a dynamic claim with
    fsGroup, an export already handed over). Existing directories are left as they are.
    """
    _require_writable(layout.root)
    created = []
    for path in layout.top_level():
        try:
            path.mkdir(mode=TREE_MODE)
        except FileExistsError:
            continue
        except OSError as exc:
            raise DlpipeError(f"cannot create {path}: {exc.strerror}") from None
        path.chmod(TREE_MODE)  # mkdir's mode is cut by the umask
        created.append(path)
    return created


def check_volume(layout: Layout) -> Path:
    """Write a file to the volume, read it back, remove it; raise if anything fails."""
    for path in (layout.root, *layout.top_level()):
        _require_writable(path)
    probe = layout.probe_path(f"{socket.gethostname()}-{secrets.token_hex(4)}")
    payload = secrets.token_bytes(64 * 1024)
    try:
        atomic.write_bytes(probe, payload)
        if probe.read_bytes() != payload:
            raise DlpipeError(f"{probe} read back differently from what was written")
    except OSError as exc:
        raise DlpipeError(f"cannot write and read back {probe}: {exc.strerror}") from None
    finally:
        probe.unlink(missing_ok=True)
    return probe


def _require_writable(path: Path) -> None:
    if not path.is_dir():
        raise DlpipeError(f"{path} is missing", "check that the volume is mounted there (--root)")
    if not os.access(path, os.W_OK | os.X_OK):
        st = path.stat()
        raise DlpipeError(
            f"{path} is not writable by uid {os.getuid()} (owned by {st.st_uid}:{st.st_gid}, "
            f"mode {st.st_mode & 0o7777:o})",
            "hand the volume to the stages' uid/gid: the dlpipe-storage chart's prepare Job "
            "(prepare.enabled=true), an EFS access point with that POSIX user, or chown on the server",
        )
