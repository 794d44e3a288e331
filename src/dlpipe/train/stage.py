"""The train stage's entry point: train (or resume) a run, export it, upload it if asked."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dlpipe import atomic, log, s3
from dlpipe.layout import SAVED_MODEL, ExportPaths, Layout, RunPaths
from dlpipe.stage import recorded
from dlpipe.train.options import Options
from dlpipe.train.trainer import Trainer

logger = log.get("train")


@dataclass
class Result:
    run_id: str
    export: ExportPaths
    steps: int
    history: list[dict[str, Any]] = field(default_factory=list)
    already_done: bool = False


def _recover(run: RunPaths) -> None:
    """Clear what a killed attempt of this run left: staging leftovers, an export without its marker."""
    atomic.remove_stale(run.dir)
    if run.export.dir.exists() and not run.export.is_complete():
        # Only releases before single-rename publishing left these; ours never do.
        logger.warning("removing the incomplete export %s (a killed earlier attempt)", run.export.dir)
        atomic.hide_and_remove(run.export.dir)


def run_stage(opts: Options, layout: Layout, config: dict[str, Any]) -> Result:
    """Events go to ``runs/<id>/events.jsonl``: started, epoch, progress, then finished or failed."""
    run = layout.run_paths(opts.run_id)
    with recorded("train", config, run.events, layout.refused_events(), opts.run_id) as events:
        if opts.upload:
            s3.require_credentials(config["s3"], opts.upload)
        trainer = Trainer(opts, layout, config, events)
        trainer.prepare()
        _recover(run)
        events.emit("started", dataset=f"{opts.dataset}@{trainer.version}", model=opts.model,
                    workers=trainer.placement.workers, precision=trainer.precision)  # fmt: skip
        if run.export.is_complete():
            history = json.loads(run.history.read_text()) if run.history.exists() else []
            result = Result(opts.run_id, run.export, history[-1]["step"] if history else 0, history, True)
        else:
            trainer.build()
            history = trainer.fit()
            export = trainer.export(history)
            result = Result(opts.run_id, export, int(trainer.step.numpy()), history)
        if opts.upload and trainer.placement.is_chief:  # also when finished before: an upload cut short
            target = f"{opts.upload.rstrip('/')}/{opts.run_id}"
            logger.info("uploading %s to %s", run.dir, target)
            s3.upload_tree(s3.client(config["s3"]), run.dir, target, last=SAVED_MODEL)
        events.emit("finished", steps=result.steps, export=str(result.export.dir), already_done=result.already_done)
    return result
