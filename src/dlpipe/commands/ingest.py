"""``dlpipe ingest``: flags and output. The work is in :mod:`dlpipe.ingest.pipeline`."""

from __future__ import annotations

import argparse
from typing import Any

from dlpipe.commands.flags import add_common, config_flag
from dlpipe.errors import EXIT_OK
from dlpipe.layout import Layout


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "ingest",
        help="turn raw data into a versioned TFRecord dataset",
        description="Read a source (s3://, https://, a path, sample:digits), convert it to sharded TFRecords "
        "and publish it as datasets/<dataset>/<version>/ with a manifest. An unchanged source is a no-op.",
    )
    flag = config_flag
    flag(parser, "--source", key="ingest.source", metavar="URI", help="s3://…, https://…, a path or sample:digits")
    flag(parser, "--dataset", key="ingest.dataset", metavar="NAME", help="dataset name")
    flag(parser, "--format", key="ingest.format", help="input format; auto detects it")
    flag(parser, "--label", key="ingest.label", metavar="NAME", help="label column/array/feature (label, or y for NPZ)")
    flag(parser, "--text-column", key="ingest.text_column", metavar="NAME", help="CSV/Parquet column holding text")
    flag(parser, "--subdir", key="ingest.subdir", metavar="PATH", help="folder or file inside the source to read")
    flag(parser, "--missing", key="ingest.missing", help="empty table cells: impute, drop their rows, or error")
    flag(parser, "--splits", key="ingest.splits", metavar="SPEC", help="split fractions when the source has none")
    flag(parser, "--shards", key="ingest.shards", metavar="N", help="shards per split")
    flag(parser, "--compression", key="ingest.compression", help="TFRecord compression")
    flag(parser, "--seed", key="ingest.seed", metavar="N", help="seed of the split and shuffle")
    flag(parser, "--force", key="ingest.force", action="store_true", help="a new version even if nothing changed")
    flag(
        parser, "--upload", key="ingest.upload", metavar="S3_URI", help="also upload the dataset to s3://bucket/prefix"
    )
    flag(parser, "--sha256", key="ingest.sha256", metavar="HEX", help="expected sha256 of an http(s) source")
    flag(parser, "--workers", key="ingest.workers", metavar="N", help="parallel downloads and shard writers")
    flag(parser, "--run-id", key="run_id", metavar="ID", help="record events in runs/<ID>/events.jsonl")
    add_common(parser)
    parser.set_defaults(handler=ingest_command, tensorflow=True)


def ingest_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.ingest.pipeline import Options, run_stage

    result = run_stage(Options.from_config(cfg), Layout.from_config(cfg), cfg)
    print(describe(result))
    return EXIT_OK


def describe(result: Any) -> str:
    """What ingest did, in a line or two (also `dlpipe run`'s summary)."""
    if result.up_to_date:
        unchanged = "source unchanged, nothing published"
        return f"{result.dataset} is up to date: version {result.version}, {unchanged} ({result.manifest})"
    splits = ", ".join(f"{split} {count}" for split, count in result.examples.items())
    skipped = ", ".join(f"{count} {why}" for why, count in sorted(result.skipped.items()))
    return (
        f"{result.dataset} version {result.version}: {splits} examples{'; skipped ' + skipped if skipped else ''}\n"
        f"manifest: {result.manifest}"
    )
