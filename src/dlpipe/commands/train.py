"""``dlpipe train`` and ``dlpipe export verify``. The work is in :mod:`dlpipe.train.stage`."""

from __future__ import annotations

import argparse
from typing import Any

from dlpipe.commands.each import each
from dlpipe.commands.flags import add_common, config_flag, wait_flag
from dlpipe.errors import EXIT_OK, DlpipeError
from dlpipe.export import verify_export
from dlpipe.layout import Layout, check_name
from dlpipe.train.options import Options
from dlpipe.train.pending import check_no_run_id, pending_runs
from dlpipe.waiting import wait_until


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "train",
        help="train a model on a dataset and export it for serving",
        description="Train on datasets/<NAME>/<VERSION>/ (checkpoints, history, TensorBoard logs in runs/<RUN_ID>/) "
        "and export a SavedModel with a serving signature, warm-up requests and lineage to runs/<RUN_ID>/export/.",
    )
    flag = config_flag
    flag(parser, "--dataset", key="train.dataset", metavar="NAME[@VERSION]", help="dataset (default version: latest)")
    flag(parser, "--model", key="train.model", metavar="MODEL", help="mlp, cnn, resnet50, text-bigru or pkg.mod:fn")
    flag(parser, "--model-path", key="train.model_path", metavar="DIR", help="import path for a user model")
    flag(parser, "--run-id", key="run_id", metavar="ID", help="run to create or resume (default: generated)")
    flag(parser, "--epochs", key="train.epochs", metavar="N", help="epochs")
    flag(parser, "--max-steps", key="train.max_steps", metavar="N", help="total steps; overrides --epochs")
    flag(parser, "--batch-size", key="train.batch_size", metavar="N", help="global batch size")
    flag(parser, "--learning-rate", key="train.learning_rate", metavar="LR", help="learning rate")
    flag(parser, "--optimizer", key="train.optimizer", help="optimizer")
    flag(parser, "--save-steps", key="train.save_steps", metavar="N", help="steps between checkpoints")
    flag(parser, "--seed", key="train.seed", metavar="N", help="seed of initialisation and shuffling")
    flag(parser, "--mixed-precision", key="train.mixed_precision", help="float16 compute; auto: on GPUs")
    flag(parser, "--image-size", key="train.image_size", metavar="PX", help="resize images to PX x PX")
    flag(parser, "--strategy", key="train.strategy", help="distribution strategy")
    flag(parser, "--upload", key="train.upload", metavar="S3_URI", help="also upload runs/<ID>/ to S3_URI/<ID>/")
    pending = "train each version of --dataset without a finished run of these settings, in a run named after it"
    parser.add_argument("--pending", action="store_true", help=pending)
    add_common(parser)
    parser.set_defaults(handler=train_command, tensorflow=True)

    export_parser = sub.add_parser("export", help="check a run's export the way TF Serving will use it")
    actions = export_parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser("verify", help="load a run's export and replay its warm-up request",
                                description="Load a run's export and replay its warm-up request through "
                                "serving_default. What the train chart's helm test runs.")  # fmt: skip
    export.add_argument("run_id", metavar="RUN_ID")
    wait_flag(export, "the export")
    add_common(export)
    export.set_defaults(handler=export_verify_command, tensorflow=True)


def export_verify_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    export = Layout.from_config(cfg).run_paths(check_name("run id", args.run_id)).export
    if not wait_until(export.is_complete, args.wait, f"run {args.run_id}'s export", cfg["progress_interval"]):
        raise DlpipeError(f"run {args.run_id} has no export at {export.dir}", "is its training Job finished?")
    print(f"{args.run_id}: ok, {verify_export(export)}")
    return EXIT_OK


def train_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.train.stage import run_stage  # TensorFlow: only when training

    layout = Layout.from_config(cfg)
    if args.pending:
        check_no_run_id(cfg)
        runs = pending_runs(Options.from_config(cfg), layout)
        if not runs:
            print(f"no version of dataset {cfg['train']['dataset']} waiting for a run of these settings")
    else:
        runs = [Options.from_config(cfg)]

    def train(opts: Options) -> int:
        if args.pending or not cfg.get("run_id"):
            print(f"run id: {opts.run_id}")
        print(describe(run_stage(opts, layout, cfg)))
        return EXIT_OK

    return each(runs, train, lambda opts: f"run {opts.run_id}") if args.pending else train(runs[0])


def describe(result: Any) -> str:
    """What training did, in a line or two (also `dlpipe run`'s summary)."""
    if result.already_done:
        return f"run {result.run_id} is already finished: {result.export.dir}"
    last = result.history[-1] if result.history else {}
    summary = ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k.endswith(("loss", "accuracy")))
    return f"run {result.run_id}: {result.steps} steps{'; ' + summary if summary else ''}\nexport: {result.export.dir}"
