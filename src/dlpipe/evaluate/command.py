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
    parser.add_argument("--pending", action="store_true", help="evaluate every finished run that has no evaluation yet")
    add_common(parser)
    parser.set_defaults(handler=run)

    check = sub.add_parser("blessing", help="show a run's blessing decision (what the evaluate chart's helm test runs)")
    check.add_argument("action", choices=["show"])
    check.add_argument("run_id", metavar="RUN_ID")
    check.add_argument("--wait", type=float, default=0, metavar="SECONDS", help="wait this long for the evaluation")
    check.add_argument("--require-blessed", action="store_true", help="exit 3 unless the run was blessed")
    add_common(check)
    check.set_defaults(handler=show_blessing)


def show_blessing(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    import json

    from dlpipe.cli import layout_of
    from dlpipe.errors import DlpipeError
    from dlpipe.waiting import wait_until

    path = layout_of(cfg).run(args.run_id).evaluation / "blessing.json"
    wait_until(path.is_file, args.wait)
    try:
        decision = json.loads(path.read_text())
    except FileNotFoundError:
        raise DlpipeError(f"run {args.run_id} has not been evaluated ({path} is missing)") from None
    except json.JSONDecodeError:
        raise DlpipeError(f"{path} is not valid JSON") from None
    verdict = "blessed" if decision["blessed"] else "not blessed"
    print(f"{args.run_id}: {verdict} ({decision['reason']})")
    for check in decision["checks"]:
        base = "" if check["baseline"] is None else f" (baseline {check['baseline']:.4f})"
        result = "pass" if check["passed"] else "FAIL"
        rule = f"{check['op']} {check['threshold']}"
        print(f"  {check['kind']} {check['metric']} {check['value']:.4f}{base} {rule}: {result}")
    return EXIT_NOT_BLESSED if args.require_blessed and not decision["blessed"] else EXIT_OK


def run(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.cli import layout_of
    from dlpipe.evaluate.run import Options, pending_runs

    layout = layout_of(cfg)
    if not args.pending:
        return _evaluate_one(Options.from_config(cfg), layout, cfg)
    runs = pending_runs(layout)
    if not runs:
        print("no finished runs waiting for an evaluation")
    codes = [_evaluate_one(Options.from_config(cfg, run_id), layout, cfg) for run_id in runs]
    return max(codes, default=EXIT_OK)


def _evaluate_one(opts: Any, layout: Any, cfg: dict[str, Any]) -> int:
    from dlpipe.evaluate.run import evaluate
    from dlpipe.events import EventSink

    with EventSink.from_config("evaluate", {**cfg, "run_id": opts.run_id}, layout.run(opts.run_id).events) as events:
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
