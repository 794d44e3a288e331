"""``dlpipe evaluate``: flags, output and exit codes. The work is in :mod:`dlpipe.evaluate.run`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from dlpipe.errors import EXIT_NOT_BLESSED, EXIT_OK


def register(sub: Any, add_common: Callable[[argparse.ArgumentParser], None], config_flag: Callable[..., None]) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="score a run's export, bless it against thresholds and the served model, publish it",
        description="Exit codes: 0 blessed (and published), 3 evaluated but not blessed, 1 failure, 2 usage.",
    )
    flag = config_flag
    flag(parser, "--run-id", key="run_id", metavar="ID", help="the training run to evaluate")
    flag(parser, "--model-name", key="evaluate.model_name", metavar="NAME", help="publish as models/NAME/<version>/")
    flag(parser, "--dataset", key="evaluate.dataset", metavar="NAME[@VERSION]", help="default: the run's own")
    flag(parser, "--split", key="evaluate.split", metavar="SPLIT", help="default: test")
    flag(parser, "--threshold", key="evaluate.thresholds", action="append", metavar="METRIC>=VALUE",
         help="absolute check (repeatable)")  # fmt: skip
    flag(parser, "--change-threshold", key="evaluate.change_thresholds", action="append", metavar="METRIC>=DELTA",
         help="check of candidate minus the published baseline (repeatable)")  # fmt: skip
    flag(parser, "--bless-without-thresholds", key="evaluate.bless_without_thresholds", action="store_true")
    flag(parser, "--publish", key="evaluate.publish", action=argparse.BooleanOptionalAction,
         help="publish when blessed (default) or not")  # fmt: skip
    flag(parser, "--keep", key="evaluate.keep", type=int, metavar="N", help="published versions to keep (default 5)")
    add_common(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.cli import layout_of
    from dlpipe.evaluate.run import Options, evaluate
    from dlpipe.events import EventSink

    opts = Options.from_config(cfg)
    layout = layout_of(cfg)
    with EventSink.from_config("evaluate", cfg, layout.run(opts.run_id).events) as events:
        try:
            result = evaluate(opts, layout, cfg, events)
        except Exception as exc:
            events.emit("failed", run_id=opts.run_id, error=str(exc))
            raise
    verdict = "blessed" if result.blessed else "NOT blessed"
    print(f"run {opts.run_id}: {verdict} ({result.reason}); report: {result.evaluation / 'report.html'}")
    if result.version is not None:
        how = "already published as" if result.already_published else "published as"
        print(f"{how} {opts.model_name} version {result.version}")
        upgrade = "helm upgrade <serving-release> dlpipe/dlpipe-serving --reuse-values"
        print(f"roll it out: {upgrade} --set model.version={result.version}")
    return EXIT_OK if result.blessed else EXIT_NOT_BLESSED
