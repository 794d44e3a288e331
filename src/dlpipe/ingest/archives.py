"""Unpacking .zip / .tar / .tar.gz / .tgz archives without trusting them.

Refused, before anything is written: absolute paths and ``..`` components,
links (hard or symbolic) that point outside the destination, device files,
and archives whose unpacked size, file count or compression ratio exceeds the
limits (zip bombs).
"""

from __future__ import annotations

import posixpath
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from dlpipe.errors import DlpipeError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


@dataclass(frozen=True)
class Limits:
    """What an archive may unpack to (defaults: the configuration schema's ``ingest.limits``)."""

    max_bytes: int  # unpacked
    max_files: int
    max_ratio: float  # unpacked / packed


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _safe_name(archive: Path, name: str) -> str:
    normalized = posixpath.normpath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or normalized == ".." or normalized.startswith("../") or ":" in normalized[:2]:
        raise DlpipeError(f"{archive.name}: refusing entry {name!r}: it points outside the archive's folder")
    return normalized


def _link_target_inside(archive: Path, member: str, target: str) -> None:
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(member), target))
    if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
        raise DlpipeError(f"{archive.name}: refusing link {member!r} -> {target!r}: it points outside the archive")


def _check_totals(archive: Path, files: int, total: int, limits: Limits) -> None:
    packed = max(archive.stat().st_size, 1)
    if files > limits.max_files:
        raise DlpipeError(f"{archive.name}: {files} entries exceed the limit of {limits.max_files}")
    if total > limits.max_bytes:
        raise DlpipeError(f"{archive.name}: unpacks to {total} bytes, over the limit of {limits.max_bytes}")
    if total / packed > limits.max_ratio:
        raise DlpipeError(
            f"{archive.name}: compression ratio {total / packed:.0f} exceeds {limits.max_ratio:.0f} (a zip bomb?)"
        )


def _extract_zip(archive: Path, dest: Path, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            total = 0
            for info in infos:
                _safe_name(archive, info.filename)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    _link_target_inside(archive, info.filename, zf.read(info).decode("utf-8", "replace"))
                    raise DlpipeError(f"{archive.name}: refusing symbolic link {info.filename!r} in a zip")
                total += info.file_size
            _check_totals(archive, len(infos), total, limits)
            written = 0
            for info in infos:
                target = dest / _safe_name(archive, info.filename)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    # Count real bytes: a forged header cannot smuggle a bomb past the limit.
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > limits.max_bytes:
                            raise DlpipeError(f"{archive.name}: unpacks to more than {limits.max_bytes} bytes")
                        out.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise DlpipeError(f"{archive.name} is not a readable zip archive: {exc}") from None


def _extract_tar(archive: Path, dest: Path, limits: Limits) -> None:
    try:
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            total = 0
            for member in members:
                name = _safe_name(archive, member.name)
                if member.issym():
                    _link_target_inside(archive, name, member.linkname)
                elif member.islnk():  # hard links name a path from the archive's root
                    _safe_name(archive, member.linkname)
                elif not (member.isfile() or member.isdir()):
                    raise DlpipeError(f"{archive.name}: refusing special file {member.name!r}")
                total += member.size
            _check_totals(archive, len(members), total, limits)
            # The "data" filter re-checks all of the above as tarfile extracts.
            tf.extractall(dest, filter="data")
    except tarfile.TarError as exc:
        raise DlpipeError(f"{archive.name} is not a readable tar archive: {exc}") from None


def extract(archive: Path, dest: Path, limits: Limits) -> Path:
    """Unpack ``archive`` into the new directory ``dest``; on any refusal ``dest`` is removed."""
    dest.mkdir(parents=True)
    try:
        if archive.name.lower().endswith(".zip"):
            _extract_zip(archive, dest, limits)
        else:
            _extract_tar(archive, dest, limits)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest
