"""GPU figures for the day a GPU machine is lent: one table, unattended, in under 10 minutes.

On one GPU, through the trainer's own compiled steps (bench/train_input.py):

- ResNet-50 images/s fed by the TFRecord JPEG pipeline (256-px JPEGs decoded and
  resized to 224 px every batch: the split is too large to hold decoded) / fed
  tensors held in memory (aim >= 0.9);
- ResNet-50 with mixed precision (mixed_float16) / float32, on tensors in memory;
- ResNet-50 with XLA auto-clustering on / off, on tensors in memory;
- the MLP and CNN figures of bench/train_input.py.

With several GPUs: MirroredStrategy images/s on all of them / (GPUs x one GPU's), on
tensors in memory with the same batch per GPU (measured in a child process, which
sees every GPU; this one sees only the first).

Without a GPU it says so in one line and exits 0. It makes its own data in a
temporary folder and needs nothing but the repository and its venv:

    PYTHONPATH=src .venv/bin/python bench/gpu.py [--rounds 3] [--batch 128] [--images 2048]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not glob.glob("/dev/nvidia[0-9]*"):
    # Said before TensorFlow is imported: the import alone logs lines about missing CUDA drivers.
    print("bench/gpu.py: skipped, this machine has no NVIDIA GPU")
    sys.exit(0)

import tensorflow as tf
from generated import make_images
from train_input import Row, cnn_figures, held_batch, mlp_figures, pipeline, steps_per_second, trainer_for

RESNET = {"train.model": "resnet50", "train.image_size": 224}


def resnet_images_per_second(
    work: Path, name: str, batch: int, steps: int, rounds: int, settings: dict[str, Any], with_pipeline: bool = False
) -> dict[str, float]:
    """ResNet-50 images/s on tensors held in memory (``memory``) and, if asked, on the JPEG pipeline."""
    flags = {**RESNET, "train.batch_size": batch, "run_id": name, **settings}
    trainer = trainer_for(work / "volume", work / "photos", flags)
    ds = pipeline(trainer)
    inputs = {"memory": held_batch(ds), **({"pipeline": ds} if with_pipeline else {})}
    rates = steps_per_second(trainer, inputs, steps, rounds)
    return {feed: rate * batch for feed, rate in rates.items()}


def _versus(subject: float, baseline: float, unit: str = "images/s") -> str:
    return f"{subject / baseline:.2f} ({subject:.0f} vs {baseline:.0f} {unit})"


def one_gpu_rows(work: Path, batch: int, steps: int, rounds: int) -> tuple[list[Row], float]:
    """The single-GPU table rows, and mixed-precision images/s on tensors (the scaling baseline)."""
    mixed = resnet_images_per_second(work, "mixed", batch, steps, rounds, {"train.mixed_precision": "on"}, True)
    fp32 = resnet_images_per_second(work, "fp32", batch, steps, rounds, {"train.mixed_precision": "off"})
    tf.config.optimizer.set_jit("autoclustering")
    xla = resnet_images_per_second(work, "xla", batch, steps, rounds, {"train.mixed_precision": "on"})
    tf.config.optimizer.set_jit(False)
    what = f"ResNet-50, batch {batch}"
    rows = [
        (f"{what}, mixed precision: TFRecord JPEG pipeline / tensors in memory",
         _versus(mixed["pipeline"], mixed["memory"])),
        (f"{what}: mixed_float16 / float32 (tensors in memory)", _versus(mixed["memory"], fp32["memory"])),
        (f"{what}, mixed precision: XLA auto-clustering on / off", _versus(xla["memory"], mixed["memory"])),
    ]  # fmt: skip
    return rows, mixed["memory"]


def scaling_child(work: Path, batch: int, steps: int, rounds: int) -> None:
    """In the child process: MirroredStrategy over every GPU, global batch = batch x GPUs; prints JSON."""
    gpus = len(tf.config.list_physical_devices("GPU"))
    settings = {"train.mixed_precision": "on", "train.strategy": "mirrored"}
    rates = resnet_images_per_second(work, "mirrored", batch * gpus, steps, rounds, settings)
    print(json.dumps({"gpus": gpus, "images_per_second": rates["memory"]}))


def scaling_row(work: Path, batch: int, steps: int, rounds: int, one_gpu: float) -> Row:
    flags = ["--batch", str(batch), "--resnet-steps", str(steps), "--rounds", str(rounds)]
    child = subprocess.run(
        [sys.executable, __file__, "--scaling-child", str(work), *flags],
        capture_output=True, text=True, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )  # fmt: skip
    result = json.loads(child.stdout.strip().splitlines()[-1])
    gpus, rate = result["gpus"], result["images_per_second"]
    return (
        f"MirroredStrategy, {gpus} GPUs, {batch} per GPU: images/s / ({gpus} x one GPU's)",
        f"{rate / (gpus * one_gpu):.2f} ({rate:.0f} vs {gpus} x {one_gpu:.0f} images/s)",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128, help="ResNet-50 batch per GPU")
    parser.add_argument("--resnet-steps", type=int, default=48, help="ResNet-50 steps per round")
    parser.add_argument("--images", type=int, default=2048, help="256-px JPEGs to generate")
    parser.add_argument("--scaling-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scaling_child:
        scaling_child(args.scaling_child, args.batch, args.resnet_steps, args.rounds)
        return 0
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("bench/gpu.py: skipped, this TensorFlow sees no GPU")
        return 0
    tf.config.set_visible_devices(gpus[:1], "GPU")  # one GPU here; the scaling child sees them all
    began = time.monotonic()
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    rows: list[Row] = [("device", f"{name} x {len(gpus)}, TensorFlow {tf.__version__}")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_images(work / "photos", args.images, side=256)
        resnet_rows, one_gpu = one_gpu_rows(work, args.batch, args.resnet_steps, args.rounds)
        rows += resnet_rows
        rows += mlp_figures(work, 200_000, 1600, args.rounds, {})
        rows += cnn_figures(work, 2000, 256, args.rounds, {})
        if len(gpus) > 1:
            rows.append(scaling_row(work, args.batch, args.resnet_steps, args.rounds, one_gpu))
    rows.append(("wall clock of this benchmark", f"{time.monotonic() - began:.0f} s"))
    print("| figure | value |\n| --- | --- |")
    print("\n".join(f"| {figure} | {value} |" for figure, value in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
