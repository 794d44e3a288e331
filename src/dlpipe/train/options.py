"""``train`` settings (no TensorFlow needed: ``dlpipe run`` names a run before it trains)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from dlpipe.errors import ConfigError
from dlpipe.layout import check_name, parse_dataset_ref

# Settings that say where and how a run executes, not what it computes: a resumed run may change them.
_PLACEMENT = ("strategy", "model_path", "upload", "run_id")


@dataclass
class Options:
    """Built from the validated configuration, whose schema holds every default."""

    dataset: str
    version: int | None
    model: str
    model_path: str | None
    epochs: int
    max_steps: int | None
    batch_size: int
    learning_rate: float
    optimizer: str
    save_steps: int
    seed: int
    mixed_precision: str
    image_size: int
    strategy: str
    shuffle_buffer: int
    upload: str | None
    run_id: str

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Options:
        """``train`` section + ``run_id``; without a run id, a new one named after the dataset, model and time."""
        section = config["train"]
        if not section.get("dataset"):
            raise ConfigError("--dataset is required", "NAME or NAME@VERSION of an ingested dataset")
        name, version = parse_dataset_ref(section["dataset"])
        fields = {k: section.get(k) for k in cls.__dataclass_fields__ if k not in ("dataset", "version", "run_id")}
        run_id = config.get("run_id") or new_run_id(name, section["model"])
        return cls(dataset=name, version=version, run_id=run_id, **fields)

    def hyperparameters(self) -> dict[str, Any]:
        """What defines the run: a resumed run must have the same."""
        return {k: v for k, v in asdict(self).items() if k not in _PLACEMENT}


def new_run_id(dataset: str, model: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return check_name("run id", re.sub(r"[^a-z0-9.-]+", "-", f"{dataset}-{model}-{stamp}".lower())[:63])
