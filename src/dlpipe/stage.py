"""What every stage's entry point shares: its events from start to end, and errors a user can act on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dlpipe import log
from dlpipe.errors import DlpipeError
from dlpipe.events import EventSink


@contextlib.contextmanager
def recorded(
    stage: str, config: Mapping[str, Any], path: Path, refused: Path, run_id: str | None = None
) -> Iterator[EventSink]:
    """The stage's event sink: endpoints from the configuration, closed within its deadline.

    Events are held until the stage attaches ``path`` (:meth:`~EventSink.attach`),
    once it has passed its checks and its output exists, and at the latest when
    it succeeds. A stage that fails or is refused before that leaves nothing that
    looks like output: its events, ``failed`` included, go to ``refused`` (a
    hidden file) instead, never into a run or dataset that belongs to another
    attempt.

    A failure is recorded as a ``failed`` event before it propagates; a file
    system error (a full or read-only volume) becomes one line naming the path.
    The stage emits ``started`` and ``finished`` itself, with what it knows.
    """
    with EventSink.from_config(stage, config, None, run_id) as events:
        try:
            yield events
        except BaseException as exc:
            error = _one_line(exc)
            events.emit("failed", error=str(error) or type(exc).__name__)
            _attach(events, refused)
            if error is not exc:
                raise error from exc
            raise
        _attach(events, path)


def _attach(events: EventSink, path: Path) -> None:
    """Recording the events must never hide the stage's own outcome (an unwritable volume, say)."""
    try:
        events.attach(path)
    except OSError as exc:
        log.get("events").warning("cannot record events in %s: %s", path, exc.strerror or exc)


def _one_line(exc: BaseException) -> BaseException:
    """A file system error (a full or read-only volume) as a DlpipeError naming the path; others as they are."""
    if isinstance(exc, OSError):
        return DlpipeError(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    return exc
