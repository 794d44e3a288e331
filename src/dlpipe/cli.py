"""The ``dlpipe`` command: the parser, the configuration, and errors mapped to exit codes.

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error,
3 evaluated but not blessed, 130 interrupted. The commands themselves live in
:mod:`dlpipe.commands`.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from dlpipe import __version__, config, log
from dlpipe.commands import MODULES
from dlpipe.commands.flags import check_root, config_overrides
from dlpipe.errors import EXIT_FAILURE, DlpipeError


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it has none worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if "%(default)" in text or not action.option_strings or unset:
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse that suggests the closest command, choice or option for a typo (subcommands are made alike)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        # argparse's hook for a value outside ``choices``: commands, subcommands and enum flags.
        if action.choices is not None and value not in action.choices:
            choices = [str(choice) for choice in action.choices]
            close = difflib.get_close_matches(str(value), choices, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"choose from {', '.join(choices)}"
            raise argparse.ArgumentError(action, f"invalid choice: {value!r} ({hint})")

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            leaf = _chosen(self, parsed)
            options = [name for name in leaf._option_string_actions if name.startswith("--")]
            hints = []
            for token in extras:
                close = difflib.get_close_matches(token.split("=", 1)[0], options, n=1) if token[:1] == "-" else []
                hints += [f"did you mean {close[0]}?"] if close else []
            leaf.error(f"unrecognized arguments: {' '.join(extras)}{' (' + ' '.join(hints) + ')' if hints else ''}")
        return parsed


def _chosen(parser: argparse.ArgumentParser, parsed: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command parser the arguments went to: the one whose options a typo was meant for."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and getattr(parsed, action.dest, None) in action.choices:
            return _chosen(action.choices[getattr(parsed, action.dest)], parsed)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="dlpipe",
        description="Deep-learning pipeline on one shared volume: ingest, train, evaluate, serve.",
        epilog="Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error, "
        "3 evaluated but not blessed (evaluate, run), 130 interrupted.",
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
            check_root(cfg)
        if preflight := getattr(args, "preflight", None):
            preflight(args)  # what can be refused at once (a port in use) is, not after TensorFlow's seconds
        if getattr(args, "tensorflow", False):
            log.import_tensorflow(verbose)  # here, so that its start-up noise is kept off the terminal
        return args.handler(args, cfg)
    except DlpipeError as exc:
        print(f"dlpipe {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except PermissionError as exc:
        who = f"uid {os.getuid()}, gid {os.getgid()}"
        print(f"dlpipe {args.command}: error: permission denied: {exc.filename} "
              f"(dlpipe runs as {who} and needs read and write permission there)", file=sys.stderr)  # fmt: skip
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"dlpipe {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if verbose:
            raise
        print(f"dlpipe {args.command}: unexpected error: {type(exc).__name__}: {exc} (re-run with -v)", file=sys.stderr)
        return EXIT_FAILURE
