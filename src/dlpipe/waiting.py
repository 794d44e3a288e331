"""Waiting a bounded time for another pod's output (what the charts' helm tests do)."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_S = 2.0


def wait_until(ready: Callable[[], bool], seconds: float) -> bool:
    """Poll ``ready`` until it holds or ``seconds`` pass; return whether it held."""
    deadline = time.monotonic() + seconds
    while not ready():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(POLL_S, max(0.1, left)))
    return True
