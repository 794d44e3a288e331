"""Failpoints: kill the process at the K-th durable step, to prove crash safety at every instant.

In the spirit of etcd's gofail and SQLite's crash tests. Every durable step of
the volume contract (a file created or written, an fsync, a rename, a mkdir, a
checkpoint saved) calls :func:`step`. Two environment variables, read once at
import, arm it (tests only; unset, a step costs one global lookup):

- ``DLPIPE_FAILPOINT_LOG=FILE``: append ``<kind> <path>`` for each step, to count them.
- ``DLPIPE_FAILPOINT_KILL=K``: SIGKILL this process at step K (1-based), before the step happens.
"""

from __future__ import annotations

import os
import signal

ENV_LOG = "DLPIPE_FAILPOINT_LOG"
ENV_KILL = "DLPIPE_FAILPOINT_KILL"
_LOG: str | None = None
_KILL_AT = 0
_ARMED = False
_count = 0


def arm(kill_at: int = 0, log: str | None = None) -> None:
    """Count steps from zero again, killing at step ``kill_at`` (0: never) and logging them to ``log``."""
    global _LOG, _KILL_AT, _ARMED, _count
    _LOG, _KILL_AT, _ARMED, _count = log, kill_at, bool(log or kill_at), 0


def step(kind: str, path: object) -> None:
    """Mark one durable step (``write``, ``fsync``, ``rename``, ``mkdir``, ``checkpoint``) on ``path``."""
    if not _ARMED:
        return
    global _count
    _count += 1
    if _count == _KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(f"{kind} {path}\n")


arm(int(os.environ.get(ENV_KILL) or 0), os.environ.get(ENV_LOG))
