"""``dlpipe volume init|check``: what the storage chart's prepare Job and helm test run (check also recovers)."""

from __future__ import annotations

import argparse
from typing import Any

from dlpipe import log
from dlpipe.commands.flags import add_common
from dlpipe.errors import EXIT_OK
from dlpipe.layout import Layout
from dlpipe.volume import Owner, check_volume, init_volume


def register(sub: Any) -> None:
    parser = sub.add_parser("volume", help="prepare or check the shared volume")
    parser.add_argument("action", choices=["init", "check"], help="init: create the tree; check: write+read a file")
    parser.add_argument("--owner", metavar="UID:GID", help="init: owner of the tree (needs CAP_CHOWN)")
    add_common(parser)
    parser.set_defaults(handler=volume_command)


def volume_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    layout = Layout.from_config(cfg)
    logger = log.get("volume")
    if args.action == "init":
        owner = Owner.parse(args.owner) if args.owner else None
        for path in init_volume(layout, owner):
            logger.info("ready: %s", path)
    else:
        check_volume(layout)
        for path in layout.recover():
            logger.info("removed a killed writer's leftover: %s", path)
        logger.info("ok: %s is writable and reads back what was written", layout.root)
    return EXIT_OK
