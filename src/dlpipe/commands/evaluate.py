"""``dlpipe evaluate`` and ``dlpipe blessing show``. The work is in :mod:`dlpipe.evaluate.stage`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from dlpipe.commands.each import each
from dlpipe.commands.flags import add_common, config_flag, wait_flag
from dlpipe.errors import EXIT_NOT_BLESSED, EXIT_OK, DlpipeError
from dlpipe.evaluate import blessing
from dlpipe.layout import Layout, check_name
from dlpipe.waiting import wait_until


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="score a run's export, bless it against thresholds and the served model, publish it",
        description="Exit codes: 0 blessed (and published), 3 evaluated but not blessed, 1 failure, 2 usage.",
    )
    flag = config_flag
    flag(parser, "--run-id", key="run_id", metavar="ID", help="the training run to evaluate")
    flag(parser, "--model-name", key="evaluate.model_name", metavar="NAME", help="publish as models/NAME/<version>/")
    flag(parser, "--dataset", key="evaluate.dataset", metavar="NAME[@VERSION]", help="default: the run's own")
    flag(parser, "--split", key="evaluate.split", metavar="SPLIT", help="the split to score")
    threshold_flags(parser)
    flag(parser, "--change-threshold", key="evaluate.change_thresholds", action="append", metavar="METRIC>=DELTA",
         help="check of candidate minus the published baseline, e.g. 'accuracy >= -0.01'; repeatable")  # fmt: skip
    flag(parser, "--publish", key="evaluate.publish", action=argparse.BooleanOptionalAction,
         help="publish when blessed (default) or not")  # fmt: skip
    flag(parser, "--keep", key="evaluate.keep", metavar="N", help="published versions to keep")
    parser.add_argument(
        "--pending", nargs="?", const="", metavar="DATASET",
        help="evaluate each finished run with no evaluation yet (of those trained on DATASET, if given)",
    )  # fmt: skip
    add_common(parser)
    parser.set_defaults(handler=evaluate_command, tensorflow=True)

    blessing_parser = sub.add_parser("blessing", help="show a run's blessing decision")
    actions = blessing_parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="a run's decision and each check",
                              description="A run's blessing decision and each check, one per line. "
                              "What the evaluate chart's helm test runs.")  # fmt: skip
    show.add_argument("run_id", metavar="RUN_ID")
    wait_flag(show, "the evaluation")
    show.add_argument("--require-blessed", action="store_true", help="exit 3 unless the run was blessed")
    add_common(show)
    show.set_defaults(handler=blessing_show_command)


def threshold_flags(parser: Any) -> None:
    """--threshold and --bless-without-thresholds, as `dlpipe evaluate` and `dlpipe run` take them."""
    flag = config_flag
    flag(parser, "--threshold", key="evaluate.thresholds", action="append", metavar="METRIC>=VALUE",
         help="absolute check, e.g. 'loss <= 0.3'; repeat for more; given ones replace the default")  # fmt: skip
    flag(parser, "--bless-without-thresholds", key="evaluate.bless_without_thresholds", action="store_true",
         help="bless without checking any threshold, the defaults included")  # fmt: skip


def blessing_show_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    path = Layout.from_config(cfg).run_paths(check_name("run id", args.run_id)).evaluation.blessing
    wait_until(path.is_file, args.wait, f"run {args.run_id}'s evaluation", cfg["progress_interval"])
    try:
        decision = json.loads(path.read_text())
    except FileNotFoundError:
        raise DlpipeError(f"run {args.run_id} has not been evaluated ({path} is missing)") from None
    except json.JSONDecodeError:
        raise DlpipeError(f"{path} is not valid JSON") from None
    verdict = "blessed" if decision["blessed"] else "not blessed"
    print(f"{args.run_id}: {verdict} ({decision['reason']})")
    for check in decision["checks"]:
        print(f"  {blessing.describe(check)}")
    return EXIT_NOT_BLESSED if args.require_blessed and not decision["blessed"] else EXIT_OK


def evaluate_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.evaluate.stage import Options, pending_runs, run_stage  # TensorFlow: only when evaluating

    layout = Layout.from_config(cfg)
    pending = args.pending is not None
    if not pending:
        runs = [None]
    else:  # another pipeline's runs on the same volume are its own evaluation's: name the dataset
        runs = pending_runs(layout, check_name("dataset", args.pending) if args.pending else None)
        if not runs:
            of = f" (of dataset {args.pending})" if args.pending else ""
            print(f"no finished runs waiting for an evaluation{of}")

    def evaluate(run_id: str | None) -> int:
        opts = Options.from_config(cfg, run_id)
        result = run_stage(opts, layout, cfg)
        print(describe(opts, result))
        return EXIT_OK if result.blessed else EXIT_NOT_BLESSED

    return each(runs, evaluate, lambda run_id: f"run {run_id}") if pending else evaluate(None)


def describe(opts: Any, result: Any) -> str:
    """The decision, the report, and what to roll out or try next."""
    verdict = "blessed" if result.blessed else "NOT blessed"
    lines = [f"run {opts.run_id}: {verdict} ({result.reason}); report: {result.evaluation.report}"]
    if not result.blessed:
        lines.append(f"try: {what_to_try(result.checks)}")
    if result.version is not None:
        how = "already published as" if result.already_published else "published as"
        lines.append(f"{how} {opts.model_name} version {result.version}")
        upgrade = "helm upgrade <serving-release> dlpipe/dlpipe-serving --reset-then-reuse-values"
        lines.append(f"roll it out: {upgrade} --set model.version={result.version}")
    return "\n".join(lines)


def what_to_try(checks: list[dict[str, Any]]) -> str:
    """Advice for a model that was not blessed, from the checks it failed."""
    failed = {check["kind"] for check in checks if not check["passed"]}
    if not failed:
        return "set thresholds with --threshold 'accuracy >= 0.9', or pass --bless-without-thresholds"
    better = "train longer with --epochs, try another model with --model"
    if failed == {"change"}:
        return f"the published model scores better: {better}, or allow a change with --change-threshold"
    return f"{better}, or lower the bar with --threshold"
