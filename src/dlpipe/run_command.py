"""``dlpipe run``: the whole pipeline on this machine, under ./.dlpipe by default.

ingest -> train -> evaluate (and publish) -> serve-local, reusing every stage
whose inputs have not changed, with each stage's time in the summary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from dlpipe.errors import EXIT_OK, ConfigError

STAGES = ("ingest", "train", "evaluate", "serve")


def register(sub: Any, add_common: Callable[[argparse.ArgumentParser], None], config_flag: Callable[..., None]) -> None:
    parser = sub.add_parser(
        "run",
        help="the whole pipeline locally: ingest, train, evaluate, publish, serve",
        description="With no arguments: sample:digits -> an MLP -> blessed at accuracy>=0.8 -> served on :8501.",
    )
    parser.add_argument("--source", default="sample:digits", help="what to ingest (default: %(default)s)")
    parser.add_argument("--dataset", default="digits", help="dataset name (default: %(default)s)")
    parser.add_argument("--model", default="mlp", help="model to train (default: %(default)s)")
    parser.add_argument("--model-name", help="name to publish and serve under (default: the dataset's)")
    parser.add_argument("--epochs", type=int, default=5, help="default: %(default)s")
    parser.add_argument("--label", help="label column, for tabular sources")
    parser.add_argument("--threshold", action="append", metavar="METRIC>=VALUE",
                        help="blessing threshold (repeatable; default accuracy>=0.8)")  # fmt: skip
    parser.add_argument("--stages", default=",".join(STAGES), help="which stages, in order (default: %(default)s)")
    parser.add_argument("--no-serve", action="store_true", help="stop after publishing")
    parser.add_argument("--port", type=int, default=8501, help="serve-local's port (default: %(default)s)")
    add_common(parser)
    parser.set_defaults(handler=run)


def _stages(text: str, no_serve: bool) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        raise ConfigError(f"--stages: unknown stage {unknown[0]!r}", f"choose from {', '.join(STAGES)}")
    return [s for s in STAGES if s in chosen and not (s == "serve" and no_serve)]


def _run_id(dataset: str, version: int, hyperparameters: dict[str, Any]) -> str:
    """The same data and settings give the same run: a second `dlpipe run` finds it finished."""
    digest = hashlib.sha256(json.dumps(hyperparameters, sort_keys=True).encode()).hexdigest()[:8]
    return f"{dataset}-v{version}-{hyperparameters['model']}-{digest}"


def run(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.cli import layout_of
    from dlpipe.events import EventSink

    stages = _stages(args.stages, args.no_serve)
    layout = layout_of(cfg)
    model_name = args.model_name or args.dataset
    times: dict[str, float] = {}
    summary: list[str] = []

    def timed(stage: str, work: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        result = work()
        times[stage] = time.perf_counter() - began
        return result

    if "ingest" in stages:
        from dlpipe.ingest.pipeline import Options as IngestOptions
        from dlpipe.ingest.pipeline import ingest

        opts = IngestOptions(source=args.source, dataset=args.dataset, label=args.label)
        done = timed(
            "ingest", lambda: ingest(opts, layout, cfg, EventSink("ingest", layout.dataset_events(args.dataset)))
        )
        summary.append(f"dataset   {done.dataset} version {done.version}{' (up to date)' if done.up_to_date else ''}")
    version = layout.dataset_version(args.dataset, None)

    from dlpipe.train.run import Options as TrainOptions

    train_opts = TrainOptions(dataset=args.dataset, version=version, model=args.model, epochs=args.epochs)
    run_id = _run_id(args.dataset, version, train_opts.hyperparameters())
    if "train" in stages:
        from dlpipe.train.run import train

        sink = EventSink("train", layout.run(run_id).events, run_id=run_id)
        result = timed("train", lambda: train(train_opts, layout, cfg, sink, run_id))
        last = result.history[-1] if result.history else {}
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in last.items() if k in ("accuracy", "val_accuracy"))
        summary.append(f"run       {run_id}: {result.steps} steps{' (already finished)' if result.already_done else ''}"
                       f"{'; ' + metrics if metrics else ''}")  # fmt: skip

    if "evaluate" in stages:
        from dlpipe.evaluate.run import Options as EvaluateOptions
        from dlpipe.evaluate.run import evaluate

        eval_opts = EvaluateOptions(
            run_id=run_id, model_name=model_name, thresholds=args.threshold or ["accuracy>=0.8"]
        )
        sink = EventSink("evaluate", layout.run(run_id).events, run_id=run_id)
        decision = timed("evaluate", lambda: evaluate(eval_opts, layout, cfg, sink))
        accuracy = json.loads((decision.evaluation / "metrics.json").read_text())["candidate"]["accuracy"]
        verdict = "blessed" if decision.blessed else f"NOT blessed ({decision.reason})"
        summary.append(
            f"evaluate  test accuracy {accuracy:.3f}: {verdict}; report {decision.evaluation / 'report.html'}"
        )
        if decision.version is not None:
            summary.append(f"model     {model_name} version {decision.version}")

    server = None
    if "serve" in stages:
        from dlpipe.serving.local import LocalServer
        from dlpipe.serving.repository import Repository

        server = timed("serve", lambda: LocalServer(Repository(layout, model_name), args.port).start())
        if not server.repository.versions():
            summary.append(
                f"serve     nothing published under {model_name} yet: serving will start with the first version"
            )
        url = f"http://127.0.0.1:{server.port}/v1/models/{model_name}"
        summary.append(f"serve     {url}  (Ctrl-C to stop)")
        versions = layout.model_versions(model_name)
        if versions:
            from dlpipe.serving.smoke import warmup_instances

            # One real example, taken from the model's warm-up request.
            request = layout.root / "request.json"
            instances = warmup_instances(layout.model_version_dir(model_name, versions[-1]))[:1]
            request.write_text(json.dumps({"instances": instances}) + "\n")
            summary.append(f"try       curl -s -d @{request} {url}:predict")
    print("\n".join(summary))
    print("times     " + ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in times.items()))
    if server is not None:
        try:
            threading.Event().wait()
        finally:
            server.stop()
    return EXIT_OK
