"""``dlpipe run``: the whole pipeline on this machine, under ./.dlpipe by default.

Not a second pipeline: it calls the same stage entry points as ``dlpipe
ingest|train|evaluate`` with the same merged configuration (flags >
``DLPIPE_*`` > ``--config`` > defaults), so a setting means the same thing
everywhere. Its own default (the digits sample) sits just above the schema's;
the dataset's name comes from the source unless given, and the model is
published and served under it. Every stage whose inputs have not changed is
reused. A model that is not blessed stops the run with exit code 3 and the
checks it failed: there would be nothing new to serve.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import shlex
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from dlpipe.commands.evaluate import threshold_flags, what_to_try
from dlpipe.commands.flags import add_common, config_flag
from dlpipe.commands.naming import with_dataset_name
from dlpipe.commands.serving import require_free_port
from dlpipe.config import setting
from dlpipe.errors import EXIT_NOT_BLESSED, EXIT_OK, ConfigError
from dlpipe.layout import Layout, parse_dataset_ref
from dlpipe.train import pending
from dlpipe.train.options import Options as TrainOptions

STAGES = ("ingest", "train", "evaluate", "serve")
SAMPLE = {"ingest": {"source": "sample:digits"}}
LONGEST_INLINE_REQUEST = 2000  # characters of JSON worth pasting into a terminal
T = TypeVar("T")


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "run",
        help="the whole pipeline locally: ingest, train, evaluate, publish, serve",
        description=f"With no arguments: sample:digits -> an MLP -> blessed at {_policy()} -> served on :8501. "
        "Every stage setting (--config, DLPIPE_INGEST__*, DLPIPE_TRAIN__*, DLPIPE_EVALUATE__*) applies. "
        "Exit codes: 0 done (serving until Ctrl-C), 3 not blessed (nothing new to serve), 1 failure, 2 usage.",
    )
    flag = config_flag
    flag(parser, "--source", key="ingest.source", metavar="URI", help="what to ingest (default: sample:digits)")
    flag(parser, "--dataset", key="ingest.dataset", metavar="NAME",
         help="dataset name (default: from the source's file or folder name)")  # fmt: skip
    flag(parser, "--label", key="ingest.label", metavar="NAME", help="label column, for tabular sources")
    flag(parser, "--model", key="train.model", metavar="MODEL", help="model to train")
    flag(parser, "--epochs", key="train.epochs", metavar="N", help="epochs")
    flag(parser, "--model-name", key="evaluate.model_name", metavar="NAME",
         help="publish and serve as (default: the dataset's name)")  # fmt: skip
    threshold_flags(parser)
    parser.add_argument("--stages", default=",".join(STAGES), help="which stages, in order (default: %(default)s)")
    parser.add_argument("--no-serve", action="store_true", help="stop after publishing")
    parser.add_argument("--port", type=int, default=8501, help="serve-local's port (default: %(default)s)")
    add_common(parser)
    parser.set_defaults(handler=run_command, config_base=SAMPLE, tensorflow=True, preflight=_preflight)


def _policy() -> str:
    """The default blessing policy, as the schema has it, for --help."""
    checks = setting("evaluate.thresholds")["default"]
    changes = [f"change {c}" for c in setting("evaluate.change_thresholds")["default"]]
    return " and ".join([*checks, *changes])


def _stages(text: str, no_serve: bool) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        raise ConfigError(f"--stages: unknown stage {unknown[0]!r}", f"choose from {', '.join(STAGES)}")
    return [s for s in STAGES if s in chosen and not (s == "serve" and no_serve)]


def _train_options(cfg: dict[str, Any], layout: Layout) -> TrainOptions:
    """Train on the dataset just ingested (its newest version) unless train.dataset names one."""
    name, wanted = parse_dataset_ref(cfg["train"].get("dataset") or cfg["ingest"]["dataset"])
    version = layout.dataset_version(name, wanted)
    staged = copy.deepcopy(cfg)
    staged["train"]["dataset"] = f"{name}@{version}"
    opts = TrainOptions.from_config(staged)
    if not cfg.get("run_id"):  # named as `train --pending` names it: a second run, or a schedule, finds it done
        opts = dataclasses.replace(opts, run_id=pending.run_id(opts, version))
    return opts


def _preflight(args: argparse.Namespace) -> None:
    if "serve" in _stages(args.stages, args.no_serve):
        require_free_port(args.port)  # before the work, not after it


def run_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    stages = _stages(args.stages, args.no_serve)
    cfg = with_dataset_name(cfg)
    layout = Layout.from_config(cfg)
    times: dict[str, float] = {}
    summary: list[str] = []

    def timed(stage: str, work: Callable[[], T]) -> T:
        began = time.perf_counter()
        result = work()
        times[stage] = time.perf_counter() - began
        return result

    def report() -> None:
        print("\n".join(summary))
        print("times     " + ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in times.items()), flush=True)

    if "ingest" in stages:
        from dlpipe.ingest.pipeline import Options as IngestOptions
        from dlpipe.ingest.pipeline import run_stage as ingest

        done = timed("ingest", lambda: ingest(IngestOptions.from_config(cfg), layout, cfg))
        summary.append(f"dataset   {done.dataset} version {done.version}{' (up to date)' if done.up_to_date else ''}")
    if not {"train", "evaluate"} & set(stages):  # serving alone needs no dataset: only a published model
        model_name = cfg["evaluate"].get("model_name") or parse_dataset_ref(cfg["ingest"]["dataset"])[0]
        server = timed("serve", lambda: _serve(layout, model_name, args.port, summary)) if "serve" in stages else None
        report()
        return _wait(server)
    train_opts = _train_options(cfg, layout)
    cfg = {**cfg, "run_id": train_opts.run_id}
    if "train" in stages:
        from dlpipe.train.stage import run_stage as train

        result = timed("train", lambda: train(train_opts, layout, cfg))
        last = result.history[-1] if result.history else {}
        metrics = "".join(f", {k} {v:.3f}" for k, v in last.items() if k in ("accuracy", "val_accuracy"))
        finished = " (already finished)" if result.already_done else ""
        summary.append(f"run       {train_opts.run_id}: {result.steps} steps{finished}{metrics.replace(', ', '; ', 1)}")

    model_name = cfg["evaluate"].get("model_name") or train_opts.dataset
    if "evaluate" in stages:
        from dlpipe.evaluate.stage import Options as EvaluateOptions
        from dlpipe.evaluate.stage import run_stage as evaluate

        cfg = {**cfg, "evaluate": {**cfg["evaluate"], "model_name": model_name}}
        eval_opts = EvaluateOptions.from_config(cfg)
        decision = timed("evaluate", lambda: evaluate(eval_opts, layout, cfg))
        verdict = "blessed" if decision.blessed else f"NOT blessed ({decision.reason})"
        accuracy = decision.metrics["accuracy"]
        summary.append(f"evaluate  {eval_opts.split} accuracy {accuracy:.3f}: {verdict}; "
                       f"report {decision.evaluation.report}")  # fmt: skip
        if decision.version is not None:
            summary.append(f"model     {model_name} version {decision.version}")
        if not decision.blessed:
            report()
            advice = what_to_try(decision.checks)
            print(f"dlpipe run: not blessed, so nothing new to serve; try: {advice}", file=sys.stderr)
            return EXIT_NOT_BLESSED

    server = timed("serve", lambda: _serve(layout, model_name, args.port, summary)) if "serve" in stages else None
    report()
    return _wait(server)


def _wait(server: Any) -> int:
    """Serve until interrupted (Ctrl-C), when there is a server."""
    if server is not None:
        try:
            threading.Event().wait()
        finally:
            server.stop()
    return EXIT_OK


def _serve(layout: Layout, model_name: str, port: int, summary: list[str]) -> Any:
    from dlpipe.serving.local import LocalServer
    from dlpipe.serving.repository import Repository
    from dlpipe.serving.smoke import warmup_instances

    server = LocalServer(Repository(layout, model_name), port).start()
    url = f"http://127.0.0.1:{server.port}/v1/models/{model_name}"
    versions = layout.model_versions(model_name)
    if not versions:
        summary.append(f"serve     nothing published under {model_name} yet: serving will start with the first version")
    summary.append(f"serve     {url}  (Ctrl-C to stop)")
    if versions:
        # One real example, taken from the model's warm-up request.
        request = json.dumps({"instances": warmup_instances(layout.model_version(model_name, versions[-1]))[:1]})
        if len(request) <= LONGEST_INLINE_REQUEST:
            summary.append(f"try       curl -s -d {shlex.quote(request)} {url}:predict")
        else:
            summary.append(f"try       dlpipe serving-test --model {model_name} --rest http://127.0.0.1:{server.port}")
    return server
