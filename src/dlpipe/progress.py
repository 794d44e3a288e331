"""Progress of long work: a bar on a terminal, log lines in a pod.

Without a terminal a line is logged at every tenth of the total and at least
every ``interval`` seconds, so short work still shows its course and long work
never goes quiet; a last line says how long it took. The bar and the lines
show the rate, the ETA and the caller's status (the training loss).

Each logged line is also sent as a ``progress`` event, so callbacks see the
same cadence as the logs.
"""

from __future__ import annotations

import math
import shutil
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
MARKS = 10  # lines per run without a terminal, besides the interval's
REDRAW_S = 0.1


def _human(n: float) -> str:
    for unit in ("", "k", "M", "G"):
        if abs(n) < 1000:
            return f"{n:.0f}{unit}" if unit == "" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}T"


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h10m``: a time a person reads at a glance."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """Counts one kind of unit (``examples``, ``bytes``, ``steps``) toward an optional total."""

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
        self._last = self._started  # time of the last line or redraw
        self._mark = self._next_mark()
        self._drawn = 0  # width of the bar last drawn, to blank what a shorter one leaves
        self._lock = threading.Lock()
        self.status = status  # extra text from the rate, e.g. examples/s and the loss

    def _next_mark(self) -> float:
        """The next tenth of the total that earns a line (the last tenth is the closing line)."""
        if not self.total:
            return math.inf
        mark = (math.floor(self.done * MARKS / self.total) + 1) * self.total / MARKS
        return mark if mark < self.total else math.inf

    def advance(self, amount: int = 1) -> None:
        """Count ``amount`` more units; safe to call from several threads."""
        with self._lock:
            self.done += amount
            now = time.monotonic()
            if self.bar:
                if now - self._last >= REDRAW_S:
                    self._last = now
                    self._draw(now)
            elif now - self._last >= self.interval or self.done >= self._mark:
                self._last = now
                self._mark = self._next_mark()
                self._report(now)

    def _rate(self, now: float) -> float:
        return (self.done - self._initial) / max(now - self._started, 1e-9)

    def _facts(self, now: float, finished: bool) -> str:
        """``52/s, ETA 1m05s, loss 0.23`` (``in 25s`` instead of the ETA once finished)."""
        rate = self._rate(now)
        parts = [f"{_human(rate)}/s"]
        if finished:
            parts.append(f"in {duration(now - self._started)}")
        elif self.total and rate > 0:
            parts.append(f"ETA {duration((self.total - self.done) / rate)}")
        if self.status and (status := self.status(rate)):
            parts.append(status)
        return ", ".join(parts)

    def _draw(self, now: float, finished: bool = False) -> None:
        if self.total:
            filled = int(_BAR * min(self.done / self.total, 1.0))
            head = f"[{'#' * filled}{'.' * (_BAR - filled)}] {_human(self.done)}/{_human(self.total)}"
        else:
            head = _human(self.done)
        line = f"{self.what} {head} {self.unit}, {self._facts(now, finished)}"
        line = line[: shutil.get_terminal_size().columns - 1]  # a wrapped line cannot be redrawn
        self.stream.write(f"\r{line.ljust(self._drawn)}")
        self.stream.flush()
        self._drawn = len(line)

    def _report(self, now: float, finished: bool = False) -> None:
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        total = f"/{self.total}" if self.total else ""
        log.info("%s: %d%s %s%s, %s", self.what, self.done, total, self.unit, share, self._facts(now, finished))
        if self.events is not None:
            self.events.emit("progress", what=self.what, unit=self.unit, done=self.done, total=self.total)

    def close(self) -> None:
        now = time.monotonic()
        if self.bar:
            self._draw(now, finished=True)
            self.stream.write("\n")
            self.stream.flush()
        else:
            self._report(now, finished=True)
