"""HTTP(S) downloads that resume after an interruption and can be pinned by sha256."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from dlpipe import __version__
from dlpipe.errors import DlpipeError
from dlpipe.manifest import sha256_file

ATTEMPTS = 5
_CHUNK = 1 << 20
_PERMANENT = {400, 401, 403, 404, 410}


def fetch(
    url: str,
    dest: Path,
    sha256: str | None = None,
    on_bytes: Callable[[int], None] | None = None,
    timeout: float = 30.0,
    backoff: float = 1.0,
) -> Path:
    """Download ``url`` to ``dest``; resume a ``dest.part`` left by an earlier try.

    Transient failures are retried ``ATTEMPTS`` times with exponential backoff,
    each retry continuing from the bytes already on disk (HTTP Range).
    """
    if dest.exists() and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_error = ""
    for attempt in range(ATTEMPTS):
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": f"dlpipe/{__version__}"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                resumed = response.status == 206
                expected = response.headers.get("Content-Length")
                received = 0
                with open(part, "ab" if resumed else "wb") as out:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        received += len(chunk)
                        if on_bytes:
                            on_bytes(len(chunk))
                    out.flush()
                    os.fsync(out.fileno())
            # A dropped connection can look like a normal end: check the length.
            if expected is None or received == int(expected):
                break
            last_error = f"connection closed after {received} of {expected} bytes"
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # asked beyond the end: the part file is already whole
                break
            if exc.code in _PERMANENT:
                part.unlink(missing_ok=True)
                raise DlpipeError(f"{url}: HTTP {exc.code} {exc.reason}") from None
            last_error = f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(getattr(exc, "reason", exc))
        if attempt + 1 < ATTEMPTS:
            time.sleep(backoff * 2**attempt)
    else:
        raise DlpipeError(
            f"{url}: download failed after {ATTEMPTS} attempts: {last_error}", "check the URL and network"
        )
    if sha256 is not None:
        actual = sha256_file(part)
        if actual != sha256.lower():
            part.unlink(missing_ok=True)
            raise DlpipeError(f"{url}: sha256 is {actual}, expected {sha256}", "the file changed or --sha256 is wrong")
    os.replace(part, dest)
    return dest
