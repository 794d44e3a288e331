"""Where the data comes from, decided by the URI's scheme.

``s3://bucket/key-or-prefix``, ``https://…`` / ``http://…``, ``sample:digits``,
or a path (on the shared volume or a local disk). Each source has a
fingerprint, known before anything is downloaded where the store allows it, so
an unchanged source is recognised as "up to date" cheaply; and a ``fetch``
that leaves the data in a local file or folder.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlpipe import download, s3
from dlpipe.errors import ConfigError, DlpipeError
from dlpipe.layout import Layout
from dlpipe.manifest import sha256_file

OnBytes = Callable[[int], None]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def fingerprint_path(path: Path) -> str:
    """sha256 over every file's relative name and content: a renamed or edited file changes it."""
    if path.is_file():
        return sha256_file(path)
    entries = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        entries.append(f"{file.relative_to(path).as_posix()}:{sha256_file(file)}")
    if not entries:
        raise DlpipeError(f"{path} is an empty folder")
    return _digest(*entries)


@dataclass
class Source:
    uri: str
    kind: str  # path, s3, http, sample
    fingerprint: str | None = None  # None until fetched, for sources that cannot tell sooner
    cache: Path | None = None  # download folder, removed after a successful ingest
    _fetch: Callable[[OnBytes | None], Path | None] = field(default=lambda _cb: None, repr=False)
    total_bytes: int | None = None

    def fetch(self, on_bytes: OnBytes | None = None) -> Path | None:
        """The data as a local file or folder (None for a built-in sample)."""
        path = self._fetch(on_bytes)
        if self.fingerprint is None:
            assert path is not None
            self.fingerprint = fingerprint_path(path)
        return path


def resolve(uri: str, layout: Layout, config: dict[str, Any], sha256: str | None = None, workers: int = 8) -> Source:
    if uri.startswith("sample:"):
        return _sample(uri)
    if uri.startswith("s3://"):
        return _s3(uri, layout, config, workers)
    if uri.startswith(("http://", "https://")):
        return _http(uri, layout, sha256)
    if "://" in uri:
        raise ConfigError(f"--source {uri!r}: unsupported scheme", "use s3://, https://, http://, sample: or a path")
    path = Path(uri)
    if not path.exists():
        raise DlpipeError(f"{path} does not exist")
    return Source(uri, "path", fingerprint_path(path), _fetch=lambda _cb: path)


def _sample(uri: str) -> Source:
    import sklearn

    return Source(uri, "sample", _digest(uri, sklearn.__version__))


def _s3(uri: str, layout: Layout, config: dict[str, Any], workers: int) -> Source:
    client = s3.client(config["s3"])
    bucket, key = s3.parse_uri(uri)
    objects = s3.list_objects(client, uri)
    fingerprint = _digest(uri, *(f"{o.key}:{o.size}:{o.etag}" for o in objects))
    cache = layout.cache_dir("downloads", fingerprint[:24])
    single = len(objects) == 1 and objects[0].key == key
    prefix = key.rsplit("/", 1)[0] if single else key

    def fetch(on_bytes: OnBytes | None) -> Path:
        # The folder is keyed by the listing's fingerprint, so files already
        # there (a killed pod's work) have the listed content and are kept.
        missing = [o for o in objects if not _have(cache, prefix, o)]
        for obj in objects:
            if obj not in missing and on_bytes:
                on_bytes(obj.size)
        s3.download_all(client, bucket, missing, prefix, cache, workers=workers, on_bytes=on_bytes)
        return cache / Path(key).name if single else cache

    return Source(uri, "s3", fingerprint, cache, fetch, sum(o.size for o in objects))


def _have(cache: Path, prefix: str, obj: s3.S3Object) -> bool:
    local = cache / obj.key[len(prefix) :].lstrip("/")
    return local.is_file() and local.stat().st_size == obj.size


def _http(uri: str, layout: Layout, sha256: str | None) -> Source:
    cache = layout.cache_dir("downloads", _digest(uri)[:24])
    name = Path(uri.split("?", 1)[0].rstrip("/")).name or "download"

    def fetch(on_bytes: OnBytes | None) -> Path:
        return download.fetch(uri, cache / name, sha256=sha256, on_bytes=on_bytes)

    # A pinned sha256 is the content's fingerprint before any byte is fetched.
    return Source(uri, "http", sha256.lower() if sha256 else None, cache, fetch)


def remove_cache(source: Source) -> None:
    if source.cache is not None:
        shutil.rmtree(source.cache, ignore_errors=True)
