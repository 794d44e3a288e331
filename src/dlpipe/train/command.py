"""``dlpipe train``: flags and output. The work is in :mod:`dlpipe.train.run`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from dlpipe.errors import EXIT_OK


def register(sub: Any, add_common: Callable[[argparse.ArgumentParser], None], config_flag: Callable[..., None]) -> None:
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
    flag(parser, "--epochs", key="train.epochs", type=int, metavar="N", help="epochs (default: 5)")
    flag(parser, "--max-steps", key="train.max_steps", type=int, metavar="N", help="total steps; overrides --epochs")
    flag(parser, "--batch-size", key="train.batch_size", type=int, metavar="N", help="global batch size (default: 64)")
    flag(parser, "--learning-rate", key="train.learning_rate", type=float, metavar="LR", help="default: 0.001")
    flag(
        parser, "--optimizer", key="train.optimizer", choices=["adam", "adamw", "sgd", "rmsprop"], help="default: adam"
    )
    flag(parser, "--save-steps", key="train.save_steps", type=int, metavar="N", help="steps between checkpoints")
    flag(parser, "--seed", key="train.seed", type=int, metavar="N", help="default: 42")
    flag(parser, "--mixed-precision", key="train.mixed_precision", choices=["auto", "on", "off"], help="default: auto")
    flag(parser, "--image-size", key="train.image_size", type=int, metavar="PX", help="resize images to (default 64)")
    flag(parser, "--strategy", key="train.strategy", choices=["auto", "default", "mirrored", "multi-worker"])
    flag(
        parser,
        "--upload",
        key="train.upload",
        metavar="S3_URI",
        help="also upload runs/<ID>/ to s3://bucket/prefix/<ID>/",
    )
    add_common(parser)
    parser.set_defaults(handler=run)

    export = sub.add_parser("export", help="check a run's export the way TF Serving will use it")
    export.add_argument("action", choices=["verify"])
    export.add_argument("run_id", metavar="RUN_ID")
    export.add_argument("--wait", type=float, default=0, metavar="SECONDS", help="wait this long for the export")
    add_common(export)
    export.set_defaults(handler=verify)


def verify(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.cli import layout_of
    from dlpipe.errors import DlpipeError
    from dlpipe.train.verify import verify_export
    from dlpipe.waiting import wait_until

    export = layout_of(cfg).run(args.run_id).export
    wait_until((export / "saved_model.pb").is_file, args.wait)
    if not export.is_dir():
        raise DlpipeError(f"run {args.run_id} has no export at {export}", "is its training Job finished?")
    print(f"{args.run_id}: ok, {verify_export(export)}")
    return EXIT_OK


def run(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.cli import layout_of
    from dlpipe.events import EventSink
    from dlpipe.train.run import Options, new_run_id, train

    opts = Options.from_config(cfg.get("train", {}))
    layout = layout_of(cfg)
    run_id = cfg.get("run_id") or new_run_id(opts)
    if not cfg.get("run_id"):
        print(f"run id: {run_id}")
    with EventSink.from_config("train", {**cfg, "run_id": run_id}, layout.run(run_id).events) as events:
        try:
            result = train(opts, layout, cfg, events, run_id)
        except Exception as exc:
            events.emit("failed", run_id=run_id, error=str(exc))
            raise
        events.emit("finished", run_id=run_id, steps=result.steps, export=str(result.export))
    if result.already_done:
        print(f"run {run_id} is already finished: {result.export}")
    else:
        last = result.history[-1] if result.history else {}
        summary = ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k.endswith(("loss", "accuracy")))
        print(f"run {run_id}: {result.steps} steps{'; ' + summary if summary else ''}")
        print(f"export: {result.export}")
    return EXIT_OK
