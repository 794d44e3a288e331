"""Waiting a bounded time for another pod's output (what the charts' helm tests and wait init containers do)."""

from __future__ import annotations

import time
from collections.abc import Callable

from dlpipe import log

POLL_S = 2.0
REPORT_S = 30.0

logger = log.get("wait")


def wait_until(ready: Callable[[], bool], seconds: float, what: str = "", report_s: float = REPORT_S) -> bool:
    """Poll ``ready`` until it holds or ``seconds`` pass; return whether it held.

    With ``what``, a line every ``report_s`` says what is awaited and for how long yet: a pod held
    in an init container shows in its log why it has not started.
    """
    start = time.monotonic()
    deadline, report = start + seconds, start
    while not ready():
        now = time.monotonic()
        left = deadline - now
        if left <= 0:
            return False
        if what and now >= report:
            logger.info("waiting for %s: %d s of %d s left", what, left, seconds)
            report = now + report_s
        time.sleep(min(POLL_S, max(0.1, left)))
    return True
