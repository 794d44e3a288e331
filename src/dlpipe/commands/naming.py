"""The dataset name a source suggests, for ``dlpipe run`` without ``--dataset``.

Filing every source under one fixed name (the sample's) mixes unrelated data
into one dataset's versions; a name taken from the source keeps them apart and
says where a dataset came from: ``~/Downloads/Adult Income.csv`` -> ``adult-income``,
``s3://bucket/pets/`` -> ``pets``, ``aclImdb_v1.tar.gz`` -> ``aclimdb_v1``,
``sample:digits`` -> ``digits``. ``dlpipe ingest``, which the charts run, still
wants the name spelled out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dlpipe.errors import ConfigError

SAMPLE_PREFIX = "sample:"
# What a file name ends with besides its name: formats and compressions, stripped one by one.
EXTENSIONS = (".gz", ".bz2", ".xz", ".zst", ".zip", ".tar", ".tgz", ".csv", ".tsv", ".parquet", ".pq", ".npz",
              ".npy", ".tfrecord", ".tfrecords", ".json", ".jsonl", ".txt")  # fmt: skip
LONGEST = 63


def dataset_name(source: str) -> str:
    """A valid dataset name from the last segment of a path, URL or S3 prefix, or a clear refusal."""
    if source.startswith(SAMPLE_PREFIX):
        last = source.removeprefix(SAMPLE_PREFIX)
    elif "://" in source:
        last = source.split("://", 1)[1].split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    else:
        last = Path(source).expanduser().absolute().name
    stem = last.lower()
    while stem.endswith(EXTENSIONS):
        stem = stem[: stem.rindex(".")]
    name = re.sub(r"[^a-z0-9._-]+", "-", stem).strip("._-")[:LONGEST].strip("._-")
    if not name:
        raise ConfigError(f"cannot tell a dataset name from the source {source!r}", "pass --dataset NAME")
    return name


def with_dataset_name(config: dict[str, Any]) -> dict[str, Any]:
    """The configuration with ``ingest.dataset`` taken from the source, unless the user set it."""
    ingest = config["ingest"]
    if ingest.get("dataset") or not ingest.get("source"):
        return config
    return {**config, "ingest": {**ingest, "dataset": dataset_name(ingest["source"])}}
