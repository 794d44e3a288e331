"""``dlpipe config``: the effective configuration, validated, secrets as ***."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dlpipe import config
from dlpipe.commands.flags import add_common
from dlpipe.errors import EXIT_OK
from dlpipe.layout import Layout


def register(sub: Any) -> None:
    parser = sub.add_parser("config", help="validate the configuration and print it (secrets as ***)")
    add_common(parser)
    parser.set_defaults(handler=config_command)


def config_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    sys.stdout.write(config.dump({**cfg, "root": str(Layout.from_config(cfg).root)}))
    return EXIT_OK
