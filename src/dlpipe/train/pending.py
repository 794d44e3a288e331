"""What ``dlpipe train --pending`` trains: the dataset versions that have no run of these settings yet.

A schedule (the train chart's CronJob) runs it again and again; each time it must find the work
the last attempt left, never start it twice. So a pending run is named after what it computes::

    <dataset>-<model>-<setup>-v<version>     setup: 8 hex of the hyperparameters, version left out

A retried pod, the next tick or a second release with the same settings finds the same run: a
finished one (its export is in place) is skipped, one killed half-way is resumed from its last
checkpoint (the train stage's own recovery), and two runs of one version never differ but in
their settings.

Settings seen for the first time (a new install, or ``helm upgrade`` with more epochs) train the
latest version only, not every version ever ingested: older versions' models would be published
after, and over, the current one. From a setup's first run on, every newer version is trained.
No TensorFlow here: the command lists the work before it trains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re

from dlpipe.errors import ConfigError
from dlpipe.layout import Layout, check_name
from dlpipe.train.options import Options

SETUP_HEX = 8


def setup_id(opts: Options) -> str:
    """8 hex of what a run computes, whatever dataset version it computes it on."""
    settings = {**opts.hyperparameters(), "version": None}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:SETUP_HEX]


def run_id(opts: Options, version: int) -> str:
    """``<dataset>-<model>-<setup>-v<version>``, cut to a 63-character name at the dataset and model."""
    suffix = f"-{setup_id(opts)}-v{version}"
    stem = re.sub(r"[^a-z0-9.-]+", "-", f"{opts.dataset}-{opts.model}".lower())
    return check_name("run id", stem[: 63 - len(suffix)].strip("-._") + suffix)


def pending_runs(opts: Options, layout: Layout) -> list[Options]:
    """The runs to train or resume, oldest dataset version first, each with its version and run id set.

    ``opts`` come from the configuration without a run id (the names are this module's); a dataset
    named with ``@VERSION`` asks for that version alone.
    """
    versions = layout.dataset_versions(opts.dataset)
    if opts.version is not None:
        versions = [layout.dataset_version(opts.dataset, opts.version)]
    started = [v for v in versions if layout.run_paths(run_id(opts, v)).dir.is_dir()]
    first = min(started, default=versions[-1] if versions else 0)
    return [
        dataclasses.replace(opts, version=v, run_id=run_id(opts, v))
        for v in versions
        if v >= first and not layout.run_paths(run_id(opts, v)).export.is_complete()
    ]


def check_no_run_id(config: dict) -> None:
    """--pending names its runs itself: a run id given too would put every version into one run."""
    if config.get("run_id"):
        raise ConfigError(
            f"--pending with run id {config['run_id']!r}: pending runs are named after their dataset version",
            "drop --run-id (or run_id / DLPIPE_RUN_ID) with --pending",
        )
