"""The ``dlpipe`` command.

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error,
130 interrupted. Stage commands register themselves in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dlpipe import __version__, config, log
from dlpipe.errors import EXIT_FAILURE, EXIT_OK, DlpipeError
from dlpipe.layout import Layout
from dlpipe.volume import Owner, check_volume, init_volume

FLAG_PREFIX = "cfg:"  # argparse dests that are configuration keys

Handler = Callable[[argparse.Namespace, dict[str, Any]], int]


def config_flag(parser: argparse.ArgumentParser, *names: str, key: str, **kwargs: Any) -> None:
    """Add a flag that overrides configuration key ``key`` only when given."""
    parser.add_argument(*names, dest=FLAG_PREFIX + key, default=argparse.SUPPRESS, **kwargs)


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("common options")
    group.add_argument("--config", type=Path, metavar="FILE", help="YAML configuration file (env: DLPIPE_CONFIG)")
    config_flag(group, "--root", key="root", metavar="DIR", help="shared volume root (env: DLPIPE_ROOT)")
    config_flag(group, "--log-format", key="log_format", choices=["auto", "text", "json"], help="log style")
    group.add_argument("-v", "--verbose", action="store_true", help="debug logging; tracebacks on errors")


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    return {k.removeprefix(FLAG_PREFIX): v for k, v in vars(args).items() if k.startswith(FLAG_PREFIX)}


def layout_of(cfg: dict[str, Any]) -> Layout:
    return Layout(Path(cfg["root"]) if cfg.get("root") else Layout.default_root())


def _cmd_version(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    print(f"dlpipe {__version__} (Python {platform.python_version()})")
    return EXIT_OK


def _cmd_config(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    sys.stdout.write(config.dump({**cfg, "root": str(layout_of(cfg).root)}))
    return EXIT_OK


def _cmd_volume(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    layout = layout_of(cfg)
    logger = log.get("volume")
    if args.action == "init":
        owner = Owner.parse(args.owner) if args.owner else None
        for path in init_volume(layout, owner):
            logger.info("ready: %s", path)
    else:
        check_volume(layout)
        logger.info("ok: %s is writable and reads back what was written", layout.root)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlpipe",
        description="Deep-learning pipeline on one shared volume: ingest, train, evaluate, serve.",
        epilog="Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error, "
        "3 evaluated but not blessed (evaluate).",
    )
    parser.add_argument("--version", action="version", version=f"dlpipe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(handler=_cmd_version, needs_config=False)

    show = sub.add_parser("config", help="validate the configuration and print it (secrets as ***)")
    _common(show)
    show.set_defaults(handler=_cmd_config)

    volume = sub.add_parser("volume", help="prepare or check the shared volume")
    volume.add_argument("action", choices=["init", "check"], help="init: create the tree; check: write+read a file")
    volume.add_argument("--owner", metavar="UID:GID", help="init: owner of the tree (needs CAP_CHOWN)")
    _common(volume)
    volume.set_defaults(handler=_cmd_volume)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub, _common, config_flag)
    return parser


# Each has ``register(subparsers, add_common_options, config_flag)`` and imports
# its heavy dependencies (TensorFlow) only when it runs, so --help stays fast.
COMMAND_MODULES = [
    "dlpipe.dataset_command",
    "dlpipe.ingest.command",
    "dlpipe.train.command",
    "dlpipe.evaluate.command",
    "dlpipe.serving.command",
    "dlpipe.run_command",
    "dlpipe.charts_command",
]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    try:
        cfg: dict[str, Any] = {}
        if getattr(args, "needs_config", True):
            cfg = config.load_config(_flags(args), getattr(args, "config", None))
            log.setup(cfg.get("log_format", "auto"), verbose)
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
