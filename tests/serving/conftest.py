"""The toy model's versions, saved once per session, and a way to publish copies of them onto a volume."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.serving import toy


@pytest.fixture(scope="session")
def toy_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Versions 1, 2 and 3 of the toy model (see tests/serving/toy.py)."""
    root = tmp_path_factory.mktemp("toy")
    return {version: toy.save(root / str(version), version) for version in (1, 2, 3)}


def place(build: Path, model_dir: Path, version: int) -> Path:
    """Publish a copy as ``model_dir/<version>`` with one rename, so a polling server never sees half of it."""
    model_dir.mkdir(parents=True, exist_ok=True)
    staged = model_dir / f".tmp-{version}"
    shutil.copytree(build, staged)
    return staged.rename(model_dir / str(version))


def wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> bool:
    """Whether ``condition`` came true within ``seconds`` (checked every 50 ms)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
