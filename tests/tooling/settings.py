"""A validated configuration for calling stage entry points directly, as the commands do."""

from __future__ import annotations

from typing import Any

from dlpipe.config import load_config


def configured(**settings: Any) -> dict[str, Any]:
    """``configured(train__dataset="digits", run_id="r1")``: schema defaults plus these, no environment."""
    return load_config({key.replace("__", "."): value for key, value in settings.items()}, environ={})
