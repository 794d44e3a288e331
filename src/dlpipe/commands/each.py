"""Working through what a ``--pending`` command found: one item that fails does not hold up the rest.

A schedule runs these commands again and again; if the first item failed every time and stopped
the pass, every newer item would wait behind it for ever.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from dlpipe.errors import EXIT_OK, DlpipeError

Item = TypeVar("Item")


def each(items: Sequence[Item], work: Callable[[Item], int], name: Callable[[Item], str]) -> int:
    """``work(item)`` for every item in order; the highest exit code, or one error naming all that failed."""
    codes, failed = [], []
    for item in items:
        try:
            codes.append(work(item))
        except Exception as exc:  # the others still run; this one is named below and in its own events
            print(f"{name(item)}: error: {exc}", file=sys.stderr)
            failed.append(name(item))
    if failed:
        raise DlpipeError(
            f"{len(failed)} of {len(items)} failed: {', '.join(failed)} (the others are done)",
            "each one's error is printed above; the next pass tries them again",
        )
    return max(codes, default=EXIT_OK)
