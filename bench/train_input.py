"""Is the input pipeline ever the bottleneck? MLP training steps/s fed by the real
TFRecord pipeline (dlpipe.train.data) against the same steps fed one batch held in
memory, in the same run.

    .venv/bin/python bench/train_input.py [--rows 200000] [--steps 300] [--batch-size 256]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from dlpipe.config import load_config
from dlpipe.events import EventSink
from dlpipe.ingest import pipeline as ingest
from dlpipe.layout import Layout
from dlpipe.manifest import read_manifest
from dlpipe.train import data
from dlpipe.train.options import Options
from dlpipe.train.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        np.savez(
            root / "t.npz", x=rng.normal(size=(args.rows, 32)).astype(np.float32), y=rng.integers(0, 10, args.rows)
        )
        flags = {"ingest.source": str(root / "t.npz"), "ingest.dataset": "t", "ingest.shards": 8,
                 "train.dataset": "t", "train.batch_size": args.batch_size, "run_id": "bench"}  # fmt: skip
        config = load_config(flags, environ={})
        ingest.run_stage(ingest.Options.from_config(config), Layout(root), config)
        trainer = Trainer(Options.from_config(config), Layout(root), config, EventSink("bench"))
        trainer.prepare()
        trainer.build()
        step = trainer._train_step()
        directory = Layout(root).dataset_version_dir("t", 1)
        manifest = read_manifest(directory)
        pipeline = data.dataset(directory, manifest, "train", args.batch_size, training=True, seed=0, image_size=64)
        in_memory = tf.data.Dataset.from_tensors(next(iter(pipeline))).repeat()

        def steps_per_second(ds: tf.data.Dataset) -> float:
            iterator = iter(trainer.placement.strategy.experimental_distribute_dataset(ds))
            for _ in range(20):  # warm-up: tracing, first reads
                step(iterator)
            began = time.perf_counter()
            for _ in range(args.steps):
                step(iterator)
            float(trainer.step.numpy())  # wait for the device
            return args.steps / (time.perf_counter() - began)

        memory = steps_per_second(in_memory)
        tfrecord = steps_per_second(pipeline)
    print(
        f"MLP, batch {args.batch_size}: TFRecord pipeline {tfrecord:.0f} steps/s, "
        f"in-memory batch {memory:.0f} steps/s, ratio {tfrecord / memory:.2f}"
    )


if __name__ == "__main__":
    main()
