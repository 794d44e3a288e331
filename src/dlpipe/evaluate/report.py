"""The evaluation report: a self-contained report.html, its plots embedded.

It answers, in order: is the candidate blessed and why (each check as a line),
how its headline metrics compare with the published model's (a table with
the change, better or worse), how each class fares, and the pictures
(confusion matrix, ROC/PR curves where they apply, training curves).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlpipe import plots
from dlpipe.evaluate.blessing import describe
from dlpipe.layout import EvaluationPaths

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:72em}
table{border-collapse:collapse;margin-bottom:1em} td,th{border:1px solid #ccc;padding:4px 10px}
td.n{text-align:right;font-variant-numeric:tabular-nums} .better{color:#1a7f37} .worse{color:#cf222e}
.FAIL{color:#cf222e;font-weight:bold} .pass{color:#1a7f37} img{max-width:100%;display:block;margin-bottom:1.5em}
"""


@dataclass
class Inputs:
    """What the report shows: the scores, both models' metrics, the decision, the run's history."""

    title: str
    classes: list[str]
    probabilities: np.ndarray
    labels: np.ndarray
    candidate: dict[str, Any]
    baseline: dict[str, Any] | None
    baseline_version: int | None
    decision: dict[str, Any]
    history: list[dict[str, Any]]


def _embedded(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _change(name: str, value: float, base: float) -> str:
    """``+0.0123`` in green when it is better, red when worse (lower is better for a loss)."""
    delta = value - base
    if delta == 0:
        return '<td class="n">0</td>'
    better = (delta < 0) == name.endswith("loss")
    return f'<td class="n {"better" if better else "worse"}">{delta:+.4f}</td>'


def _headline(inputs: Inputs) -> str:
    """The headline metrics, the published model's beside them."""
    names = [k for k, v in inputs.candidate.items() if isinstance(v, (int, float)) and k != "examples"]
    base = inputs.baseline
    head = "<tr><th>metric</th><th>this run</th>"
    if base is not None:
        head += f"<th>published (version {inputs.baseline_version})</th><th>change</th>"
    rows = []
    for name in names:
        value = inputs.candidate[name]
        row = f"<tr><td>{html.escape(name)}</td><td class='n'>{value:.4f}</td>"
        if base is not None and isinstance(base.get(name), (int, float)):
            row += f"<td class='n'>{base[name]:.4f}</td>{_change(name, value, base[name])}"
        elif base is not None:
            row += "<td></td><td></td>"
        rows.append(row + "</tr>")
    scored = f"{inputs.candidate['examples']} examples"
    note = "" if base is not None else "; nothing is published under this name yet, so there is no baseline"
    return f"<p>Scored on {scored}{note}.</p><table>{head}</tr>{''.join(rows)}</table>"


def _checks(decision: dict[str, Any]) -> str:
    if not decision["checks"]:
        return f"<p>{html.escape(decision['reason'])}</p>"
    items = "".join(
        f'<li class="{"pass" if c["passed"] else "FAIL"}">{html.escape(describe(c))}</li>' for c in decision["checks"]
    )
    return f"<ul>{items}</ul>"


def _per_class(metrics: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td class='n'>{m['precision']:.3f}</td><td class='n'>{m['recall']:.3f}</td>"
        f"<td class='n'>{m['f1']:.3f}</td><td class='n'>{m['support']}</td></tr>"
        for name, m in metrics["per_class"].items()
    )
    return f"<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{rows}</table>"


def write(paths: EvaluationPaths, inputs: Inputs) -> Path:
    """Draw the plots into ``paths`` and write the page that embeds them."""
    images = [plots.confusion_matrix(inputs.candidate["confusion_matrix"], inputs.classes, paths.confusion_matrix)]
    curves = plots.roc_pr_curves(inputs.probabilities, inputs.labels, inputs.classes, paths.roc_pr_curves)
    if curves is not None:
        images.append(curves)
    if inputs.history:
        images.append(plots.training_curves(inputs.history, paths.training_curves))
    verdict = "BLESSED" if inputs.decision["blessed"] else "NOT BLESSED"
    pictures = "".join(
        f'<h2>{html.escape(p.stem.replace("_", " "))}</h2><img alt="{p.stem}" src="{_embedded(p)}">' for p in images
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(inputs.title)}</title><style>{STYLE}</style></head><body>
<h1>{html.escape(inputs.title)}: {verdict}</h1>
<h2>Checks</h2>{_checks(inputs.decision)}
<h2>Metrics</h2>{_headline(inputs)}
<h2>Per class</h2>{_per_class(inputs.candidate)}
{pictures}
</body></html>
"""
    paths.report.write_text(page, encoding="utf-8")
    return paths.report
