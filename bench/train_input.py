"""Is the input pipeline ever the bottleneck? Training steps/s fed by dlpipe.train.data from
TFRecord shards against the same steps fed one batch held in memory, both through the
trainer's own compiled steps (``train.steps_per_execution`` per call), measured in
alternating rounds of the same run (the median of each side is compared).

- MLP on dense data (200k x 32 floats, batch 256): the split fits, so the pipeline
  holds it as tensors and gathers each batch.
- CNN on JPEG class folders (batch 64, images resized to 64x64): the split streamed
  from its shards and decoded every batch, and the same split decoded once and held
  as tensors, each against a pre-decoded batch.

    .venv/bin/python bench/train_input.py [--cases mlp,cnn] [--rounds 3] [--rows 200000] [--images 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import tensorflow as tf
from generated import make_images, make_npz

from dlpipe.config import load_config
from dlpipe.events import EventSink
from dlpipe.ingest import pipeline as ingest
from dlpipe.layout import Layout
from dlpipe.train import data
from dlpipe.train.options import Options
from dlpipe.train.trainer import Trainer


def trainer_for(root: Path, source: Path, settings: dict[str, Any]) -> Trainer:
    """Ingest ``source`` onto the volume at ``root`` and build a trainer for it (model, optimizer, compiled steps)."""
    flags = {"ingest.source": str(source), "ingest.dataset": "bench", "ingest.shards": 8, "ingest.splits": "train=1",
             "train.dataset": "bench", "run_id": "bench", "progress_interval": 3600, **settings}  # fmt: skip
    config = load_config(flags, environ={})
    ingest.run_stage(ingest.Options.from_config(config), Layout(root), config)
    trainer = Trainer(Options.from_config(config), Layout(root), config, EventSink("bench"))
    trainer.prepare()
    trainer.build()
    return trainer


def pipeline(trainer: Trainer, **options: Any) -> tf.data.Dataset:
    """The training input exactly as ``Trainer.fit`` builds it."""
    opts = trainer.opts
    return data.dataset(trainer.directory, trainer.manifest, "train", opts.batch_size, training=True, seed=opts.seed,
                        image_size=opts.image_size, **options)  # fmt: skip


def held_batch(ds: tf.data.Dataset) -> tf.data.Dataset:
    """The baseline: one batch of ``ds``, already parsed and decoded, served again and again."""
    return tf.data.Dataset.from_tensors(next(iter(ds))).repeat()


def steps_per_second(trainer: Trainer, inputs: dict[str, tf.data.Dataset], steps: int, rounds: int) -> dict[str, float]:
    """Median steps/s of each input over ``rounds`` alternating rounds of ``steps`` steps (after a warm-up)."""
    run = trainer._train_steps()
    per_call = trainer.config["train"]["steps_per_execution"]
    count = tf.constant(per_call, tf.int64)
    distribute = trainer.placement.strategy.experimental_distribute_dataset
    iterators = {name: iter(distribute(ds)) for name, ds in inputs.items()}

    def rate(iterator: Any, calls: int) -> float:
        began = time.perf_counter()
        for _ in range(calls):
            run(iterator, count)
        float(trainer.step.numpy())  # waits for the device
        return calls * per_call / (time.perf_counter() - began)

    for iterator in iterators.values():
        rate(iterator, 2)  # tracing, first reads, a split loaded into memory
    rates: dict[str, list[float]] = {name: [] for name in inputs}
    for _ in range(rounds):
        for name, iterator in iterators.items():
            rates[name].append(rate(iterator, max(1, steps // per_call)))
    return {name: statistics.median(values) for name, values in rates.items()}


Row = tuple[str, str]  # (figure, value)


def mlp_figures(work: Path, rows: int, steps: int, rounds: int, settings: dict[str, Any]) -> list[Row]:
    make_npz(work / "t.npz", rows)
    trainer = trainer_for(work / "mlp", work / "t.npz", {"train.batch_size": 256, **settings})
    ds = pipeline(trainer)
    rates = steps_per_second(trainer, {"tfrecord": ds, "memory": held_batch(ds)}, steps, rounds)
    return [
        (
            "MLP, batch 256: TFRecord pipeline / in-memory batch",
            f"{rates['tfrecord'] / rates['memory']:.2f} ({rates['tfrecord']:.0f} vs {rates['memory']:.0f} steps/s)",
        )
    ]


def cnn_figures(work: Path, images: int, steps: int, rounds: int, settings: dict[str, Any]) -> list[Row]:
    make_images(work / "photos", images, side=160)
    cnn = {"train.model": "cnn", "train.batch_size": 64, "train.image_size": 64}
    trainer = trainer_for(work / "cnn", work / "photos", {**cnn, **settings})
    held = pipeline(trainer, in_memory=True)
    inputs = {"decoding": pipeline(trainer, in_memory=False), "held": held, "memory": held_batch(held)}
    rates = steps_per_second(trainer, inputs, steps, rounds)
    base, what = rates["memory"], f"CNN on {images} JPEGs (160 px -> 64 px), batch 64"
    return [
        (f"{what}: decoding in the pipeline / pre-decoded batch",
         f"{rates['decoding'] / base:.2f} ({rates['decoding']:.1f} vs {base:.1f} steps/s)"),
        (f"{what}: decoded once, held as tensors / pre-decoded batch",
         f"{rates['held'] / base:.2f} ({rates['held']:.1f} vs {base:.1f} steps/s)"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="mlp,cnn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--mlp-steps", type=int, default=1600, help="steps per round")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--cnn-steps", type=int, default=64, help="steps per round")
    parser.add_argument("--steps-per-execution", type=int, help="default: the schema's train.steps_per_execution")
    args = parser.parse_args()
    settings = {"train.steps_per_execution": args.steps_per_execution} if args.steps_per_execution else {}
    cases = args.cases.split(",")
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        rows: list[Row] = []
        if "mlp" in cases:
            rows += mlp_figures(Path(tmp), args.rows, args.mlp_steps, args.rounds, settings)
        if "cnn" in cases:
            rows += cnn_figures(Path(tmp), args.images, args.cnn_steps, args.rounds, settings)
    print("\n".join(f"{figure}: {value}" for figure, value in rows))


if __name__ == "__main__":
    main()
