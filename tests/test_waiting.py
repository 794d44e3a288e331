"""A bounded wait for another pod's output says, while it waits, what for and how long it has left."""

from __future__ import annotations

import logging

import pytest

from dlpipe import waiting


@pytest.fixture
def wait_log(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    monkeypatch.setattr(waiting, "POLL_S", 0.001)
    logger = logging.getLogger("dlpipe.wait")
    monkeypatch.setattr(logger, "handlers", [caplog.handler])  # the dlpipe logger may not propagate
    monkeypatch.setattr(logger, "level", logging.INFO)
    monkeypatch.setattr(logger, "propagate", False)
    return caplog


def test_each_report_names_what_is_awaited(wait_log: pytest.LogCaptureFixture) -> None:
    answers = iter([False, False, False, True])
    assert waiting.wait_until(lambda: next(answers), 3600, "dataset digits", report_s=0)
    lines = [record.getMessage() for record in wait_log.records]
    assert len(lines) == 3 and all(line.startswith("waiting for dataset digits: ") for line in lines)
    assert lines[0].endswith("s of 3600 s left")


def test_what_is_there_already_is_not_waited_for(wait_log: pytest.LogCaptureFixture) -> None:
    assert waiting.wait_until(lambda: True, 0, "the export")
    assert not wait_log.records


def test_a_wait_ends_when_its_time_is_up(wait_log: pytest.LogCaptureFixture) -> None:
    assert not waiting.wait_until(lambda: False, 0.01)
    assert not wait_log.records  # nothing named: nothing reported
