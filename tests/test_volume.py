"""dlpipe volume init (the storage chart's prepare Job, run as root): it creates and hands over
the top-level tree, and never follows a symbolic link someone put on the volume."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dlpipe.errors import DlpipeError
from dlpipe.layout import TOP_LEVEL, Layout
from dlpipe.volume import TREE_MODE, Owner, init_volume


def _me() -> Owner:
    return Owner(os.getuid(), os.getgid())


def test_creates_the_tree_with_its_mode_and_owner(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "volume")
    paths = init_volume(layout, _me())
    assert paths == [layout.root, *layout.top_level()]
    for path in paths:
        info = path.lstat()
        assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == TREE_MODE
        assert (info.st_uid, info.st_gid) == (os.getuid(), os.getgid())
    assert init_volume(layout, None) == paths, "re-running changes nothing"


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_a_link_in_place_of_a_directory_is_refused_and_left_alone(tmp_path: Path, name: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    layout = Layout(tmp_path / "volume")
    layout.root.mkdir()
    (layout.root / name).symlink_to(elsewhere)
    with pytest.raises(DlpipeError, match=f"{name} is a symbolic link or not a directory"):
        init_volume(layout, _me())
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o700, "the link's target was not changed"


def test_a_linked_root_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "volume").symlink_to(elsewhere)
    with pytest.raises(DlpipeError, match="symbolic link"):
        init_volume(Layout(tmp_path / "volume"), _me())
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o700
    assert not list(elsewhere.iterdir())


def test_a_file_in_place_of_a_directory_is_refused(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "volume")
    layout.root.mkdir()
    (layout.root / TOP_LEVEL[0]).write_text("not a directory")
    with pytest.raises(DlpipeError, match="not a directory"):
        init_volume(layout, None)
