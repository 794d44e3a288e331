"""What a --pending command does with the items it found (dlpipe.commands.each)."""

from __future__ import annotations

import pytest

from dlpipe.commands.each import each
from dlpipe.errors import DlpipeError


def test_one_failing_item_does_not_hold_up_the_others(capsys: pytest.CaptureFixture) -> None:
    done = []

    def work(item: str) -> int:
        if item == "v1":
            raise DlpipeError("dataset digits@1 is corrupt")
        done.append(item)
        return 0

    with pytest.raises(DlpipeError, match=r"^1 of 3 failed: v1 \(the others are done\)"):
        each(["v1", "v2", "v3"], work, str)
    assert done == ["v2", "v3"]
    assert "v1: error: dataset digits@1 is corrupt" in capsys.readouterr().err


def test_the_exit_code_is_the_highest_when_none_failed() -> None:
    assert each([0, 4, 1], lambda code: code, str) == 4  # e.g. one run not blessed
    assert each([], lambda code: code, str) == 0
