"""The evaluation report: a confusion-matrix PNG and a self-contained report.html."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from dlpipe.train import curves

CELL = 36


def confusion_png(matrix: list[list[int]], classes: list[str], path: Path) -> Path:
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


def _embedded(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def write(directory: Path, metrics: dict[str, Any], blessing: dict[str, Any], classes: list[str],
          history: list[dict[str, Any]], title: str) -> Path:  # fmt: skip
    images = [confusion_png(metrics["confusion_matrix"], classes, directory / "confusion_matrix.png")]
    if history:
        images.append(curves.draw(history, directory / "training_curves.png"))
    rows = "".join(
        f"<tr><td>{html.escape(c['kind'])}</td><td>{html.escape(c['metric'])}</td><td>{c['value']:.4f}</td>"
        f"<td>{'' if c['baseline'] is None else format(c['baseline'], '.4f')}</td>"
        f"<td>{html.escape(c['op'])} {c['threshold']}</td><td>{'pass' if c['passed'] else 'FAIL'}</td></tr>"
        for c in blessing["checks"]
    )
    per_class = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td>"
        f"<td>{m['f1']:.3f}</td><td>{m['support']}</td></tr>"
        for name, m in metrics["per_class"].items()
    )
    headline = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    verdict = "BLESSED" if blessing["blessed"] else "NOT BLESSED"
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}}
</style>
</head><body>
<h1>{html.escape(title)}: {verdict}</h1>
<p>{html.escape(blessing["reason"])}</p>
<h2>Checks</h2><table>
<tr><th>kind</th><th>metric</th><th>value</th><th>baseline</th><th>threshold</th><th>result</th></tr>{rows}</table>
<h2>Metrics</h2><pre>{html.escape(json.dumps(headline, indent=2))}</pre>
<h2>Per class</h2><table>
<tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{per_class}</table>
{"".join(f'<h2>{html.escape(p.stem.replace("_", " "))}</h2><img alt="{p.stem}" src="{_embedded(p)}">' for p in images)}
</body></html>
"""
    path = directory / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
