"""``dlpipe volume init|check``: what the storage chart's prepare Job and helm test run (check also recovers)."""

from __future__ import annotations

import argparse
from typing import Any

from dlpipe import log
from dlpipe.commands.flags import add_common
from dlpipe.errors import EXIT_OK
from dlpipe.layout import Layout
from dlpipe.volume import Owner, check_volume, create_tree, init_volume

logger = log.get("volume")


def register(sub: Any) -> None:
    parser = sub.add_parser("volume", help="prepare or check the shared volume")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = actions.add_parser(
        "init",
        help="create the volume's tree (idempotent)",
        description="Create datasets/, runs/ and models/ under --root, group-writable (setgid), owned by --owner "
        "when given. What the storage chart's prepare Job runs.",
    )
    init.add_argument("--owner", metavar="UID:GID", help="owner of the tree (needs CAP_CHOWN)")
    add_common(init)
    init.set_defaults(handler=init_command)
    check = actions.add_parser(
        "check",
        help="create a missing tree, write and read back a file; remove killed writers' leftovers",
        description="Create datasets/, runs/ and models/ where they are missing, write a file on the volume, read "
        "it back and remove it, then remove the leftovers of killed writers. What the storage chart's helm test runs.",
    )
    add_common(check)
    check.set_defaults(handler=check_command)


def init_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    owner = Owner.parse(args.owner) if args.owner else None
    for path in init_volume(Layout.from_config(cfg), owner):
        logger.info("ready: %s", path)
    return EXIT_OK


def check_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    layout = Layout.from_config(cfg)
    for path in create_tree(layout):
        logger.info("created: %s", path)
    check_volume(layout)
    for path in layout.recover():
        logger.info("removed a killed writer's leftover: %s", path)
    logger.info("ok: %s is writable and reads back what was written", layout.root)
    return EXIT_OK
