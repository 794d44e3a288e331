"""Dataset manifests: the only thing training reads about a dataset."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from dlpipe import atomic
from dlpipe.errors import DlpipeError
from dlpipe.layout import MANIFEST
from dlpipe.schemas import load_schema, validation_errors

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check(manifest: dict[str, Any], where: Path) -> None:
    problems = validation_errors(load_schema("manifest"), manifest)
    if problems:
        raise DlpipeError(f"{where}: invalid manifest: {problems[0]}")


def write_manifest(directory: Path, manifest: dict[str, Any]) -> Path:
    """Validate and write ``manifest.json`` into ``directory`` atomically."""
    path = directory / MANIFEST
    _check(manifest, path)
    atomic.write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DlpipeError(f"{path} does not exist", "run `dlpipe ingest` to create the dataset") from None
    except json.JSONDecodeError as exc:
        raise DlpipeError(f"{path} is not valid JSON: {exc}") from None
    _check(manifest, path)
    return manifest


def verify_shards(directory: Path, manifest: dict[str, Any]) -> None:
    """Check that every shard the manifest lists is present with its sha256."""
    for split, spec in manifest["splits"].items():
        for shard in spec["shards"]:
            path = directory / shard["file"]
            if not path.is_file():
                raise DlpipeError(f"{path} is missing (split {split!r})")
            actual = sha256_file(path)
            if actual != shard["sha256"]:
                raise DlpipeError(
                    f"{path} is corrupt: sha256 {actual[:12]}… != {shard['sha256'][:12]}… in the manifest",
                    "re-run `dlpipe ingest --force`",
                )
