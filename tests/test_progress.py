"""Progress: a bar on a terminal, log lines (and progress events) at every tenth and interval in a pod."""

from __future__ import annotations

import io
import logging
import re

import pytest

from dlpipe.events import EventSink
from dlpipe.progress import Progress, duration


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "dlpipe.progress"]


def test_pod_mode_logs_rate_eta_status_and_sends_events(caplog: pytest.LogCaptureFixture) -> None:
    sink = EventSink("train")
    emitted = []
    sink.emit = lambda kind, **data: emitted.append((kind, data))  # type: ignore[method-assign]
    progress = Progress("train", "steps", 10, interval=0, events=sink, bar=False, status=lambda rate: "loss 0.25")
    with caplog.at_level(logging.INFO, logger="dlpipe"):
        for _ in range(4):
            progress.advance()
        progress.close()
    lines = _lines(caplog)
    assert lines[0].startswith("train: 1/10 steps (10%), ") and ", ETA " in lines[0]
    assert lines[0].endswith(", loss 0.25")
    assert lines[-1].startswith("train: 4/10 steps (40%), ") and re.search(r", in \w+, loss 0.25$", lines[-1])
    assert emitted[-1] == ("progress", {"what": "train", "unit": "steps", "done": 4, "total": 10})


def test_short_work_without_a_terminal_logs_each_tenth(caplog: pytest.LogCaptureFixture) -> None:
    """A run shorter than the interval (a 25 s training) still shows its course: ten lines."""
    progress = Progress("train", "steps", 110, interval=3600, bar=False)
    with caplog.at_level(logging.INFO, logger="dlpipe"):
        for _ in range(110):
            progress.advance()
        progress.close()
    shares = [line.split("(")[1].split(")")[0] for line in _lines(caplog)]
    assert shares == ["10%", "20%", "30%", "40%", "50%", "60%", "70%", "80%", "90%", "100%"]


def test_terminal_mode_draws_a_bar_with_eta_and_status() -> None:
    stream = io.StringIO()
    progress = Progress("ingest", "examples", 8, stream=stream, bar=True, status=lambda rate: "loss 1.5")
    progress._last -= 1  # the bar redraws at most ten times a second
    progress.advance(4)
    assert "[############............] 4/8 examples, " in stream.getvalue()
    assert ", ETA " in stream.getvalue() and stream.getvalue().endswith(", loss 1.5")
    progress.advance(4)
    progress.close()
    assert "[########################] 8/8 examples, " in stream.getvalue()
    assert re.search(r", in \w+, loss 1.5\s*\n$", stream.getvalue())


def test_resumed_work_does_not_count_toward_the_rate(caplog: pytest.LogCaptureFixture) -> None:
    progress = Progress("train", "steps", 1000, interval=3600, bar=False, done=990)
    with caplog.at_level(logging.INFO, logger="dlpipe"):
        progress.advance()
        progress.close()
    assert _lines(caplog) == [caplog.records[-1].getMessage()], "no tenth crossed: only the closing line"
    assert "991/1000" in caplog.records[-1].getMessage()


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0s"), (42, "42s"), (185, "3m05s"), (7800, "2h10m")])
def test_durations_read_at_a_glance(seconds: float, text: str) -> None:
    assert duration(seconds) == text
