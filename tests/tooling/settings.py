"""A validated configuration for calling stage entry points directly, as the commands do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlpipe.config import load_config


def configured(**settings: Any) -> dict[str, Any]:
    """``configured(train__dataset="digits", run_id="r1")``: schema defaults plus these, no environment."""
    return load_config({key.replace("__", "."): value for key, value in settings.items()}, environ={})


def built_trainer(volume: Path, config: dict[str, Any]) -> Any:
    """A Trainer of ``config`` on the volume at ``volume``, prepared and its model built: ready to fit."""
    from dlpipe.events import EventSink
    from dlpipe.layout import Layout
    from dlpipe.train.options import Options
    from dlpipe.train.trainer import Trainer  # TensorFlow: only for the tests that train

    trainer = Trainer(Options.from_config(config), Layout(volume), config, EventSink("train"))
    trainer.prepare()
    trainer.build()
    return trainer
