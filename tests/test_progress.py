"""Progress: a bar on a terminal, log lines (and progress events) at an interval in a pod."""

from __future__ import annotations

import io
import logging

import pytest

from dlpipe.events import EventSink
from dlpipe.progress import Progress


def test_pod_mode_logs_rate_eta_status_and_sends_events(caplog: pytest.LogCaptureFixture) -> None:
    sink = EventSink("train")
    emitted = []
    sink.emit = lambda kind, **data: emitted.append((kind, data))  # type: ignore[method-assign]
    progress = Progress("train", "steps", 10, interval=0, events=sink, bar=False, status=lambda rate: f"{rate:.0f}/s?")
    with caplog.at_level(logging.INFO, logger="dlpipe"):
        for _ in range(4):
            progress.advance()
        progress.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "dlpipe.progress"]
    assert lines and lines[-1].startswith("train: 4/10 steps (40%)")
    assert "ETA" in lines[-1] and lines[-1].endswith("/s?")
    assert emitted[-1] == ("progress", {"what": "train", "unit": "steps", "done": 4, "total": 10})


def test_terminal_mode_draws_a_bar() -> None:
    stream = io.StringIO()
    progress = Progress("ingest", "examples", 8, stream=stream, bar=True)
    progress.advance(8)
    progress.close()
    assert "[########################] 8/8 examples" in stream.getvalue()


def test_resumed_work_does_not_count_toward_the_rate(caplog: pytest.LogCaptureFixture) -> None:
    progress = Progress("train", "steps", 1000, interval=3600, bar=False, done=990)
    with caplog.at_level(logging.INFO, logger="dlpipe"):
        progress.advance()
        progress.close()
    assert "991/1000" in caplog.records[-1].getMessage()
