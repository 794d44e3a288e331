"""``dlpipe ingest``: flags and output. The work is in :mod:`dlpipe.ingest.pipeline`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from dlpipe.errors import EXIT_OK


def register(sub: Any, add_common: Callable[[argparse.ArgumentParser], None], config_flag: Callable[..., None]) -> None:
    parser = sub.add_parser(
        "ingest",
        help="turn raw data into a versioned TFRecord dataset",
        description="Read a source (s3://, https://, a path, sample:digits), convert it to sharded TFRecords "
        "and publish it as datasets/<dataset>/<version>/ with a manifest. An unchanged source is a no-op.",
    )
    config_flag(
        parser, "--source", key="ingest.source", metavar="URI", help="s3://…, https://…, a path or sample:digits"
    )
    config_flag(parser, "--dataset", key="ingest.dataset", metavar="NAME", help="dataset name")
    config_flag(
        parser,
        "--format",
        key="ingest.format",
        choices=["auto", "images", "text", "csv", "parquet", "npz", "tfrecord"],
        help="input format (default: detected)",
    )
    config_flag(
        parser,
        "--label",
        key="ingest.label",
        metavar="NAME",
        help="label column/array/feature (default: label, or y for NPZ)",
    )
    config_flag(
        parser, "--text-column", key="ingest.text_column", metavar="NAME", help="CSV/Parquet column holding text"
    )
    config_flag(
        parser,
        "--splits",
        key="ingest.splits",
        metavar="SPEC",
        help="split fractions when the source has none (default: train=0.8,validation=0.1,test=0.1)",
    )
    config_flag(parser, "--shards", key="ingest.shards", type=int, metavar="N", help="shards per split (default: 4)")
    config_flag(
        parser,
        "--compression",
        key="ingest.compression",
        choices=["gzip", "none"],
        help="TFRecord compression (default: none)",
    )
    config_flag(
        parser, "--seed", key="ingest.seed", type=int, metavar="N", help="seed of the split and shuffle (default: 42)"
    )
    config_flag(
        parser,
        "--force",
        key="ingest.force",
        action="store_true",
        help="build a new version even if the source is unchanged",
    )
    config_flag(
        parser, "--upload", key="ingest.upload", metavar="S3_URI", help="also upload the dataset to s3://bucket/prefix"
    )
    config_flag(parser, "--sha256", key="ingest.sha256", metavar="HEX", help="expected sha256 of an http(s) source")
    config_flag(
        parser,
        "--workers",
        key="ingest.workers",
        type=int,
        metavar="N",
        help="parallel downloads and shard writers (default: 8)",
    )
    config_flag(parser, "--run-id", key="run_id", metavar="ID", help="record events in runs/<ID>/events.jsonl")
    add_common(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.cli import layout_of
    from dlpipe.events import EventSink
    from dlpipe.ingest.pipeline import Options, ingest

    opts = Options.from_config(cfg.get("ingest", {}))
    layout = layout_of(cfg)
    events_path = layout.run(cfg["run_id"]).events if cfg.get("run_id") else layout.dataset_events(opts.dataset)
    with EventSink.from_config("ingest", cfg, events_path) as events:
        try:
            result = ingest(opts, layout, cfg, events)
        except Exception as exc:
            events.emit("failed", dataset=opts.dataset, error=str(exc))
            raise
        events.emit(
            "finished",
            dataset=result.dataset,
            version=result.version,
            up_to_date=result.up_to_date,
            examples=result.examples,
            skipped=result.skipped,
        )
    if result.up_to_date:
        print(f"{result.dataset} is up to date: version {result.version} ({result.manifest})")
    else:
        splits = ", ".join(f"{split} {count}" for split, count in result.examples.items())
        skipped = ", ".join(f"{count} {why}" for why, count in sorted(result.skipped.items()))
        print(
            f"{result.dataset} version {result.version}: {splits} examples{'; skipped ' + skipped if skipped else ''}"
        )
        print(f"manifest: {result.manifest}")
    return EXIT_OK
