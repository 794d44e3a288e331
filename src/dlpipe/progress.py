"""Progress of long work: a bar on a terminal, one log line per interval in a pod.

Each logged line is also sent as a ``progress`` event, so callbacks see the
same cadence as the logs.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from dlpipe.events import EventSink
from dlpipe.log import get as get_logger
from dlpipe.log import on_terminal

log = get_logger("progress")
_BAR = 24


def _human(n: float) -> str:
    for unit in ("", "k", "M", "G"):
        if abs(n) < 1000:
            return f"{n:.0f}{unit}" if unit == "" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}T"


class Progress:
    """Counts one kind of unit (``examples``, ``bytes``, ``files``) toward an optional total."""

    def __init__(
        self,
        what: str,
        unit: str,
        total: int | None = None,
        interval: float = 30.0,
        events: EventSink | None = None,
        stream: TextIO | None = None,
        bar: bool | None = None,
        status: Callable[[float], str] | None = None,
        done: int = 0,
    ) -> None:
        self.what, self.unit, self.total = what, unit, total
        self.done = self._initial = done  # resumed work does not count toward the rate
        self.interval = interval
        self.events = events
        self.stream = stream or sys.stderr
        self.bar = on_terminal() if bar is None else bar
        self._started = time.monotonic()
        self._last = self._started  # first line after one interval
        self._lock = threading.Lock()
        self.status = status  # extra text for each line from the rate, e.g. examples/s and the loss

    def advance(self, amount: int = 1) -> None:
        """Count ``amount`` more units; safe to call from several threads."""
        with self._lock:
            self.done += amount
            self._maybe_show()

    def _maybe_show(self) -> None:
        now = time.monotonic()
        if self.bar and now - self._last >= 0.1:
            self._last = now
            self._draw(now)
        elif not self.bar and now - self._last >= self.interval:
            self._last = now
            self._report(now)

    def _rate(self, now: float) -> float:
        return (self.done - self._initial) / max(now - self._started, 1e-9)

    def _draw(self, now: float) -> None:
        if self.total:
            filled = int(_BAR * min(self.done / self.total, 1.0))
            head = f"[{'#' * filled}{'.' * (_BAR - filled)}] {_human(self.done)}/{_human(self.total)}"
        else:
            head = _human(self.done)
        self.stream.write(f"\r{self.what} {head} {self.unit} {_human(self._rate(now))}/s ")
        self.stream.flush()

    def _report(self, now: float) -> None:
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        total = f"/{self.total}" if self.total else ""
        rate = self._rate(now)
        eta = f", ETA {(self.total - self.done) / rate:.0f}s" if self.total and rate > 0 else ""
        extra = f", {status}" if self.status and (status := self.status(rate)) else ""
        log.info("%s: %d%s %s%s, %s/s%s%s", self.what, self.done, total, self.unit, share, _human(rate), eta, extra)
        if self.events is not None:
            self.events.emit("progress", what=self.what, unit=self.unit, done=self.done, total=self.total)

    def close(self) -> None:
        now = time.monotonic()
        if self.bar:
            self._draw(now)
            self.stream.write("\n")
            self.stream.flush()
        else:
            self._report(now)
