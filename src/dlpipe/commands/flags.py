"""Options every command shares, and flags that set configuration keys.

A configuration flag takes its type, choices and default (shown in ``--help``)
from the configuration schema, so a setting's rules live in one place.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dlpipe.config import setting

FLAG_PREFIX = "cfg:"  # argparse dests that are configuration keys
_TYPES = {"integer": int, "number": float}


def config_flag(parser: Any, *names: str, key: str, **kwargs: Any) -> None:
    """Add a flag that sets configuration key ``key`` only when given."""
    schema = setting(key)
    if "action" not in kwargs:
        kwargs.setdefault("type", _TYPES.get(schema.get("type")))
        if "enum" in schema:
            kwargs.setdefault("choices", schema["enum"])
    text = kwargs.get("help", schema.get("description", ""))
    default = schema.get("default")
    if default not in (None, [], {}):
        text += f" (default: {str(default).lower() if isinstance(default, bool) else default})"
    kwargs["help"] = text.replace("%", "%%")
    parser.add_argument(*names, dest=FLAG_PREFIX + key, default=argparse.SUPPRESS, **kwargs)


def add_common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("common options")
    group.add_argument("--config", type=Path, metavar="FILE", help="YAML configuration file (env: DLPIPE_CONFIG)")
    config_flag(group, "--root", key="root", metavar="DIR", help="shared volume root (env: DLPIPE_ROOT)")
    config_flag(group, "--log-format", key="log_format", help="log style")
    group.add_argument("-v", "--verbose", action="store_true", help="debug logging; tracebacks on errors")


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration keys set by flags on this command line."""
    return {k.removeprefix(FLAG_PREFIX): v for k, v in vars(args).items() if k.startswith(FLAG_PREFIX)}
