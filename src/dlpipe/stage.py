"""What every stage's entry point shares: its events from start to end, and errors a user can act on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dlpipe.errors import DlpipeError
from dlpipe.events import EventSink


@contextlib.contextmanager
def recorded(
    stage: str, config: Mapping[str, Any], path: Path, refused: Path, run_id: str | None = None
) -> Iterator[EventSink]:
    """The stage's event sink: endpoints from the configuration, closed within its deadline.

    Events go to ``path`` once its directory exists (the run or dataset it
    belongs to); until then they are held, so a stage that fails or is refused
    before it produced anything leaves nothing that looks like output: its
    events, ``failed`` included, go to ``refused`` (a hidden file) instead. A
    stage may :meth:`~EventSink.attach` earlier, once its directory exists.

    A failure is recorded as a ``failed`` event before it propagates; a file
    system error (a full or read-only volume) becomes one line naming the path.
    The stage emits ``started`` and ``finished`` itself, with what it knows.
    """
    with EventSink.from_config(stage, config, path if path.parent.is_dir() else None, run_id) as events:
        try:
            yield events
        except BaseException as exc:
            error = _one_line(exc)
            events.emit("failed", error=str(error) or type(exc).__name__)
            events.attach(path if path.parent.is_dir() else refused)
            if error is not exc:
                raise error from exc
            raise
        events.attach(path)


def _one_line(exc: BaseException) -> BaseException:
    """A file system error (a full or read-only volume) as a DlpipeError naming the path; others as they are."""
    if isinstance(exc, OSError):
        return DlpipeError(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    return exc
