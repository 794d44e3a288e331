"""A small PNG of the training curves, drawn with Pillow (no plotting library needed in the image)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

WIDTH, HEIGHT, MARGIN = 640, 360, 40
COLOURS = {"loss": (31, 119, 180), "val_loss": (255, 127, 14), "accuracy": (44, 160, 44), "val_accuracy": (214, 39, 40)}


def draw(history: list[dict[str, Any]], path: Path) -> Path:
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    pen = ImageDraw.Draw(image)
    pen.rectangle([MARGIN, MARGIN, WIDTH - MARGIN, HEIGHT - MARGIN], outline=(180, 180, 180))
    series = {k: [h[k] for h in history if h.get(k) is not None] for k in COLOURS}
    top = max([1.0, *(v for values in series.values() for v in values)])
    epochs = max(len(history) - 1, 1)
    for y, (name, values) in enumerate((k, v) for k, v in series.items() if v):
        points = [
            (MARGIN + i * (WIDTH - 2 * MARGIN) / epochs, HEIGHT - MARGIN - v / top * (HEIGHT - 2 * MARGIN))
            for i, v in enumerate(values)
        ]
        if len(points) > 1:
            pen.line(points, fill=COLOURS[name], width=2)
        for x_, y_ in points:
            pen.ellipse([x_ - 2, y_ - 2, x_ + 2, y_ + 2], fill=COLOURS[name])
        pen.text((MARGIN + 8, MARGIN + 6 + 14 * y), name, fill=COLOURS[name])
    pen.text((MARGIN, HEIGHT - MARGIN + 10), f"epochs 1..{len(history)}; y from 0 to {top:.2f}", fill=(90, 90, 90))
    image.save(path)
    return path
