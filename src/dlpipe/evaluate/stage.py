"""The evaluate stage's entry point: score a run's export, bless it, write the report, publish it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dlpipe import atomic, log
from dlpipe.errors import ConfigError, DlpipeError
from dlpipe.evaluate import blessing, metrics, publish, report
from dlpipe.evaluate.score import score
from dlpipe.events import EventSink
from dlpipe.export import read_lineage
from dlpipe.layout import EvaluationPaths, Layout, check_name, parse_dataset_ref
from dlpipe.manifest import read_manifest, verify_shards
from dlpipe.stage import recorded

logger = log.get("evaluate")


@dataclass
class Options:
    """Built from the validated configuration, whose schema holds every default."""

    run_id: str
    model_name: str
    dataset: str | None
    split: str
    thresholds: list[str]
    change_thresholds: list[str]
    bless_without_thresholds: bool
    publish: bool | None  # None: publish when blessed
    keep: int

    @classmethod
    def from_config(cls, config: dict[str, Any], run_id: str | None = None) -> Options:
        section = config["evaluate"]
        run_id = run_id or config.get("run_id")
        if not run_id:
            raise ConfigError("--run-id is required: the training run whose export to evaluate (or --pending)")
        if not section.get("model_name"):
            raise ConfigError("--model-name is required: the name TF Serving serves the model under")
        fields = {k: section.get(k) for k in cls.__dataclass_fields__ if k != "run_id"}
        return cls(run_id=check_name("run id", run_id), **fields)


@dataclass
class Result:
    blessed: bool
    reason: str
    evaluation: EvaluationPaths
    metrics: dict[str, Any]
    checks: list[dict[str, Any]]  # blessing.Check rows: what was checked, against what, and whether it passed
    version: int | None = None
    already_published: bool = False
    removed: list[int] = field(default_factory=list)


def pending_runs(layout: Layout, dataset: str | None = None) -> list[str]:
    """Finished runs (an export is in place) that have no evaluation yet, oldest first; with
    ``dataset``, only the runs trained on a version of it (as their export's lineage says)."""
    found = []
    for run_id in layout.run_ids():
        run = layout.run_paths(run_id)
        if not run.export.is_complete() or run.evaluation.blessing.is_file():
            continue
        if dataset is None or read_lineage(run.export)["dataset"]["name"] == dataset:
            found.append(run_id)
    return found


def _write_evaluation(final: Path, files: dict[str, Any], draw: Callable[[EvaluationPaths], Any]) -> None:
    """Replace runs/<id>/evaluation/ as a whole: readers never see half of an old and half of a new one."""
    with atomic.staging_dir(final) as staged:
        for name, content in files.items():
            (staged / name).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
        draw(EvaluationPaths(staged))
        atomic.replace_dir(staged, final)


def run_stage(opts: Options, layout: Layout, config: dict[str, Any]) -> Result:
    """Events go to ``runs/<id>/events.jsonl``: started, then finished (blessed or not) or failed."""
    run = layout.run_paths(opts.run_id)
    with recorded("evaluate", config, run.events, layout.refused_events(), opts.run_id) as events:
        atomic.remove_stale(run.dir)  # an evaluation killed half-way
        return _evaluate(opts, layout, events)


def _evaluate(opts: Options, layout: Layout, events: EventSink) -> Result:
    model = check_name("model", opts.model_name)
    absolute = [blessing.Threshold.parse(t, "--threshold") for t in opts.thresholds]
    change = [blessing.Threshold.parse(t, "--change-threshold") for t in opts.change_thresholds]
    run = layout.run_paths(opts.run_id)
    if not run.export.is_complete():
        raise DlpipeError(f"run {opts.run_id} has no export at {run.export.dir}", "train it first, or check --run-id")
    lineage = read_lineage(run.export)
    name, version = (
        parse_dataset_ref(opts.dataset) if opts.dataset else (lineage["dataset"]["name"], lineage["dataset"]["version"])
    )
    version = layout.dataset_version(name, version)
    directory = layout.dataset_version_dir(name, version)
    manifest = read_manifest(directory)
    verify_shards(directory, manifest)
    classes = manifest["label"]["classes"]
    events.emit("started", model=model, dataset=f"{name}@{version}", split=opts.split)

    probabilities, labels = score(run.export, directory, manifest, opts.split)
    candidate = metrics.compute(probabilities, labels, classes)
    already = publish.find_published(layout, model, opts.run_id)
    others = [v for v in layout.model_versions(model) if v != already]
    baseline_version = others[-1] if others else None
    baseline = None
    if baseline_version is not None:
        baseline_export = layout.model_version(model, baseline_version)
        baseline = metrics.compute(*score(baseline_export, directory, manifest, opts.split), classes)
    decision = blessing.decide(candidate, baseline, absolute, change, opts.bless_without_thresholds)
    decision.update(
        run_id=opts.run_id,
        model_name=model,
        dataset={"name": name, "version": version, "split": opts.split},
        baseline_version=baseline_version,
        evaluated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    history = json.loads(run.history.read_text()) if run.history.exists() else []
    evaluation = run.evaluation
    files = {
        evaluation.metrics.name: {"candidate": candidate, "baseline": baseline},
        evaluation.blessing.name: decision,
    }
    shown = report.Inputs(f"{model}: run {opts.run_id}", classes, probabilities, labels, candidate, baseline,
                          baseline_version, decision, history)  # fmt: skip
    _write_evaluation(evaluation.dir, files, lambda d: report.write(d, shown))
    result = Result(decision["blessed"], decision["reason"], evaluation, candidate, decision["checks"])
    if decision["blessed"] and opts.publish is not False:
        if already is not None:
            result.version, result.already_published = already, True
        else:
            result.version = publish.publish(layout, model, run.export)
        protect = {result.version} | ({baseline_version} if baseline_version else set())
        result.removed = publish.retain(layout, model, opts.keep, protect)
    events.emit("finished", blessed=result.blessed, published_version=result.version,
                accuracy=candidate["accuracy"], baseline_version=baseline_version)  # fmt: skip
    return result
