"""What every stage's entry point shares: its events from start to end, and errors a user can act on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dlpipe.errors import DlpipeError
from dlpipe.events import EventSink


@contextlib.contextmanager
def recorded(stage: str, config: Mapping[str, Any], path: Path, run_id: str | None = None) -> Iterator[EventSink]:
    """The stage's event sink: endpoints from the configuration, closed within its deadline.

    A failure is recorded as a ``failed`` event before it propagates; a file
    system error (a full or read-only volume) becomes one line naming the path.
    The stage emits ``started`` and ``finished`` itself, with what it knows.
    """
    with EventSink.from_config(stage, config, path, run_id) as events:
        try:
            yield events
        except OSError as exc:
            error = DlpipeError(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
            events.emit("failed", error=str(error))
            raise error from exc
        except KeyboardInterrupt:
            events.emit("failed", error="interrupted")
            raise
        except Exception as exc:
            events.emit("failed", error=str(exc) or type(exc).__name__)
            raise
