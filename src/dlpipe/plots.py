"""Plots for runs and reports, drawn with Pillow (no plotting library needed in the images)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

WIDTH, HEIGHT, MARGIN = 640, 360, 40
CELL = 36  # confusion matrix cell, pixels
COLOURS = {"loss": (31, 119, 180), "val_loss": (255, 127, 14), "accuracy": (44, 160, 44), "val_accuracy": (214, 39, 40)}


def training_curves(history: list[dict[str, Any]], path: Path) -> Path:
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


def confusion_matrix(matrix: list[list[int]], classes: list[str], path: Path) -> Path:
    n = len(classes)
    margin = 90
    image = Image.new("RGB", (margin + CELL * n + 10, margin + CELL * n + 10), "white")
    pen = ImageDraw.Draw(image)
    top = max(max(row) for row in matrix) or 1
    for i in range(n):
        pen.text((4, margin + i * CELL + CELL // 3), classes[i][:12], fill=(0, 0, 0))
        pen.text((margin + i * CELL + 2, margin - 16), classes[i][:5], fill=(0, 0, 0))
        for j in range(n):
            shade = int(255 - 200 * matrix[i][j] / top)
            box = [margin + j * CELL, margin + i * CELL, margin + (j + 1) * CELL, margin + (i + 1) * CELL]
            pen.rectangle(box, fill=(shade, shade, 255), outline=(200, 200, 200))
            pen.text((box[0] + 4, box[1] + CELL // 3), str(matrix[i][j]), fill=(0, 0, 0))
    pen.text((4, 4), "rows: true class, columns: predicted", fill=(80, 80, 80))
    image.save(path)
    return path
