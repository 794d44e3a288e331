"""Empty cells in tables: refuse them, drop their rows, or impute them (``--missing``, default impute).

Imputing keeps the holes in the records as they are (NaN in a number column,
an empty string in a category column) and writes, in the manifest's
``missing`` section, what fills them: for numbers the training split's median
(statistics from training rows only, so validation and test say nothing about
them) plus a 0/1 ``<column>_missing`` indicator for each column that had
holes; for categories a category of its own, ``(missing)``. Training and the
exported model fill them with the same code (:func:`dlpipe.records.fill_missing`),
so a client may leave a cell empty and gets what training would have computed::

    "missing": {"strategy": "impute", "statistics_from": "train",
                "columns": {"hours_per_week": {"empty": 11, "fill": 40.0, "indicator": "hours_per_week_missing"},
                            "workclass": {"empty": 3, "fill": "(missing)"},
                            "age": {"empty": 0, "fill": 38.0}}}

Every number and category column gets a fill, holes or not: a served model
accepts holes the training data happened not to have. Integer columns without
holes stay int64 and cannot be empty. A row without a label (or, for text
classification, without text) has nothing to learn from: it is dropped and
counted whatever the strategy, except ``error``.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlpipe import log
from dlpipe.errors import DlpipeError

logger = log.get("ingest")
MISSING_CATEGORY = "(missing)"
INDICATOR_SUFFIX = "_missing"
DROP_HINT = "--missing drop drops those rows"
IMPUTE_HINT = "--missing impute fills them (numbers: the training split's median; categories: a missing category)"


def _holes(values: np.ndarray) -> np.ndarray:
    """Which cells are empty: NaN numbers, empty strings."""
    if values.dtype == object:
        return values == ""
    if np.issubdtype(values.dtype, np.floating):
        return np.isnan(values)
    return np.zeros(len(values), dtype=bool)


def _counts(masks: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{name} {int(mask.sum())}" for name, mask in masks.items())


@dataclass
class Plan:
    """What ingest did about a table's holes; :meth:`section` makes the manifest's ``missing`` section."""

    strategy: str
    empty: dict[str, int]  # feature column -> its empty cells in the source
    columns: dict[str, np.ndarray]  # the feature columns imputation fills
    indicators: dict[str, str]  # column that had holes -> its indicator feature

    def section(self, train_rows: Sequence[int] | None) -> dict[str, Any]:
        """The manifest's ``missing`` section, with fills computed from ``train_rows`` (None: every row)."""
        columns: dict[str, dict[str, Any]] = {name: {"empty": count} for name, count in self.empty.items() if count}
        for name, values in self.columns.items():
            entry = columns.setdefault(name, {"empty": 0})
            entry["fill"] = MISSING_CATEGORY if values.dtype == object else self._median(name, values, train_rows)
            if name in self.indicators:
                entry["indicator"] = self.indicators[name]
        section = {"strategy": self.strategy, "columns": columns}
        if self.columns:
            section["statistics_from"] = "train" if train_rows is not None else "all rows"
        return section

    @staticmethod
    def _median(name: str, values: np.ndarray, rows: Sequence[int] | None) -> float:
        picked = values if rows is None else values[np.asarray(rows, dtype=np.int64)]
        known = picked[~np.isnan(picked)]
        if not len(known):
            raise DlpipeError(f"column {name!r} has no values in the training split: nothing to impute from",
                              "remove the column from the file")  # fmt: skip
        return float(np.float32(np.median(known)))


_WHAT_HAPPENS = {
    "drop": "their rows are dropped",
    "impute": "filled: numbers with the training split's median (plus a missing indicator), categories with "
    + MISSING_CATEGORY,
}


def handle(
    where: str,
    columns: dict[str, np.ndarray],
    label: str,
    strategy: str,
    skipped: collections.Counter[str],
    text: str | None = None,
) -> tuple[dict[str, np.ndarray], Plan]:
    """Apply ``strategy`` to the holes of ``columns``; return the rows kept and the plan for the manifest.

    ``where`` names the file in messages. Numeric columns with holes must come
    as floats (NaN), string columns with empty strings.
    """
    features = [text] if text else [name for name in columns if name != label]
    masks = {name: mask for name in [*features, label] if (mask := _holes(columns[name])).any()}
    if not masks:
        return columns, Plan(strategy, {}, _fillable(columns, features, strategy, text), {})
    if strategy == "error":
        raise DlpipeError(f"{where}: empty cells in {_counts(masks)}", f"{IMPUTE_HINT}; {DROP_HINT}")
    logger.info("%s: empty cells in %s; %s", where, _counts(masks), _WHAT_HAPPENS[strategy])
    # A row without a label (or text to classify) has nothing to learn from, whatever the strategy.
    drop = np.zeros(len(columns[label]), dtype=bool)
    for name, reason in ((label, "row without a label"), (text, "row without text")):
        if name in masks:
            skipped[reason] += int((masks.pop(name) & ~drop).sum())
            drop |= _holes(columns[name])
    if strategy == "drop" and masks:
        lost = np.logical_or.reduce(list(masks.values())) & ~drop
        skipped["row with empty cells (--missing drop)"] += int(lost.sum())
        drop |= lost
    kept = {name: values[~drop] for name, values in columns.items()}
    fillable = _fillable(kept, features, strategy, text)
    holed = [name for name in fillable if name in masks and fillable[name].dtype != object]
    empty = {name: int(mask.sum()) for name, mask in masks.items()}
    return kept, Plan(strategy, empty, fillable, _indicators(kept, holed))


def _fillable(
    columns: dict[str, np.ndarray], features: list[str], strategy: str, text: str | None
) -> dict[str, np.ndarray]:
    """When imputing, the scalar number and category columns: those a client may leave empty (never text)."""
    if strategy != "impute" or text:
        return {}
    return {
        name: columns[name]
        for name in features
        if columns[name].ndim == 1
        and (columns[name].dtype == object or np.issubdtype(columns[name].dtype, np.floating))
    }


def _indicators(columns: dict[str, np.ndarray], names: list[str]) -> dict[str, str]:
    """``hours`` -> ``hours_missing`` (underscores added until the name is free)."""
    taken, result = set(columns), {}
    for name in names:
        indicator = name + INDICATOR_SUFFIX
        while indicator in taken:
            indicator += "_"
        taken.add(indicator)
        result[name] = indicator
    return result
