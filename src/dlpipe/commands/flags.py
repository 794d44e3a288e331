"""Options every command shares, and flags that set configuration keys.

A configuration flag takes its type, choices and default (shown in ``--help``)
from the configuration schema, so a setting's rules live in one place.
"""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path
from typing import Any

from dlpipe.config import setting
from dlpipe.errors import ConfigError, DlpipeError
from dlpipe.layout import DEFAULT_LOCAL_ROOT, DEFAULT_POD_ROOT, Layout

FLAG_PREFIX = "cfg:"  # argparse dests that are configuration keys
_TYPES = {"integer": int, "number": float}


def _shown(default: Any) -> str:
    """A default as a user would type it: ``false``, ``accuracy>=0.8``, not ``False`` or ``['accuracy>=0.8']``."""
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, list):
        return ", ".join(map(str, default))
    return str(default)


def config_flag(parser: Any, *names: str, key: str, **kwargs: Any) -> None:
    """Add a flag that sets configuration key ``key`` only when given."""
    schema = setting(key)
    if "action" not in kwargs:
        kwargs.setdefault("type", _TYPES.get(schema.get("type")))
        if "enum" in schema:
            kwargs.setdefault("choices", schema["enum"])
    text = kwargs.get("help", schema.get("description", ""))
    default = schema.get("default")
    if default not in (None, [], {}) and not (default is False and kwargs.get("action") == "store_true"):
        text += f" (default: {_shown(default)})"
    kwargs["help"] = text.replace("%", "%%")
    parser.add_argument(*names, dest=FLAG_PREFIX + key, default=argparse.SUPPRESS, **kwargs)


def add_common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("common options")
    group.add_argument("--config", type=Path, metavar="FILE", help="YAML configuration file (env: DLPIPE_CONFIG)")
    defaults = f"default: {DEFAULT_LOCAL_ROOT}, {DEFAULT_POD_ROOT} in a pod"
    config_flag(group, "--root", key="root", metavar="DIR", help=f"shared volume root (env: DLPIPE_ROOT; {defaults})")
    config_flag(group, "--log-format", key="log_format", help="log style")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="debug logging, TensorFlow's own messages, tracebacks on errors")  # fmt: skip


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration keys set by flags on this command line."""
    return {k.removeprefix(FLAG_PREFIX): v for k, v in vars(args).items() if k.startswith(FLAG_PREFIX)}


def check_root(config: dict[str, Any]) -> None:
    """A root that exists must be a folder this user can list and enter: say so in one line, before any work.

    A root that does not exist yet is fine here (ingest and ``volume init``
    create it; readers say it is missing), and so is one that is not
    writable (readers need no more; writers fail naming the folder).
    """
    root = Layout.from_config(config).root
    try:
        mode = root.stat().st_mode
    except FileNotFoundError:
        return
    except PermissionError:
        raise DlpipeError(f"cannot reach --root {root}: a folder above it denies search (execute) permission "
                          f"to uid {os.getuid()}") from None  # fmt: skip
    if not stat.S_ISDIR(mode):
        raise ConfigError(f"--root {root} is not a directory", "point --root or DLPIPE_ROOT at the volume's folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise DlpipeError(f"cannot read --root {root}: uid {os.getuid()} needs read and execute permission on it")


def wait_flag(parser: argparse.ArgumentParser, what: str) -> None:
    """``--wait SECONDS``: how long a verify command (what a chart's helm test runs) waits for ``what`` to appear."""
    parser.add_argument("--wait", type=float, default=0, metavar="SECONDS", help=f"wait this long for {what}")
