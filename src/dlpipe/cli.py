"""The ``dlpipe`` command: the parser, the configuration, and errors mapped to exit codes.

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error,
3 evaluated but not blessed, 130 interrupted. The commands themselves live in
:mod:`dlpipe.commands`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from dlpipe import __version__, config, log
from dlpipe.commands import MODULES
from dlpipe.commands.flags import config_overrides
from dlpipe.errors import EXIT_FAILURE, DlpipeError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlpipe",
        description="Deep-learning pipeline on one shared volume: ingest, train, evaluate, serve.",
        epilog="Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error, "
        "3 evaluated but not blessed (evaluate), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"dlpipe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in MODULES:
        importlib.import_module(f"dlpipe.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    try:
        cfg: dict[str, Any] = {}
        if getattr(args, "needs_config", True):
            base = getattr(args, "config_base", None)
            cfg = config.load_config(config_overrides(args), getattr(args, "config", None), base=base)
            log.setup(cfg["log_format"], verbose)
        return args.handler(args, cfg)
    except DlpipeError as exc:
        print(f"dlpipe {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"dlpipe {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if verbose:
            raise
        print(f"dlpipe {args.command}: unexpected error: {type(exc).__name__}: {exc} (re-run with -v)", file=sys.stderr)
        return EXIT_FAILURE
