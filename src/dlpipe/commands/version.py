"""``dlpipe version``."""

from __future__ import annotations

import argparse
import platform
from typing import Any

from dlpipe import __version__
from dlpipe.errors import EXIT_OK


def register(sub: Any) -> None:
    parser = sub.add_parser("version", help="print the version")
    parser.set_defaults(handler=version_command, needs_config=False)


def version_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    print(f"dlpipe {__version__} (Python {platform.python_version()})")
    return EXIT_OK
