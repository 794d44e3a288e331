"""The evaluation report: a self-contained report.html with its plots embedded."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from dlpipe import plots
from dlpipe.layout import EvaluationPaths


def _embedded(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def write(paths: EvaluationPaths, metrics: dict[str, Any], blessing: dict[str, Any], classes: list[str],
          history: list[dict[str, Any]], title: str) -> Path:  # fmt: skip
    images = [plots.confusion_matrix(metrics["confusion_matrix"], classes, paths.confusion_matrix)]
    if history:
        images.append(plots.training_curves(history, paths.training_curves))
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
    paths.report.write_text(page, encoding="utf-8")
    return paths.report
