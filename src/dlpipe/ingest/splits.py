"""Splits: the source's own, or seeded fractions; and a validation split carved out of train when one is missing.

``--splits train=0.8,validation=0.1,test=0.1`` divides a source that has no
splits of its own (``valid``, ``val`` and ``dev`` name validation, ``training``
train, ``testing`` test). A source split by its publisher keeps its splits; when it
has train but no validation (aclImdb: train and test), validation is carved
out of train in the proportion ``--splits`` gives them (0.1 : 0.8 → 1/9 of
train), stratified by class and seeded, and the manifest says so
(``"carved_from"`` on the split).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dlpipe import log
from dlpipe.errors import ConfigError
from dlpipe.layout import check_name

logger = log.get("ingest")
# The names publishers give splits, as training (train, validation) and evaluation (test) read them.
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "test": "test",
    "testing": "test",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
}


def parse_splits(text: str) -> dict[str, float]:
    """``train=0.8,validation=0.1,test=0.1`` -> ordered fractions that sum to 1."""
    splits: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            fraction = float(value)
        except ValueError:
            fraction = -1.0
        if not sep or not 0 < fraction <= 1:
            raise ConfigError(
                f"--splits {text!r}: {part!r} is not NAME=FRACTION", "e.g. train=0.8,validation=0.1,test=0.1"
            )
        name = check_name("split", name.strip())
        splits[SPLIT_ALIASES.get(name, name)] = fraction  # valid=0.1 is the validation split training reads
    if not splits or abs(sum(splits.values()) - 1) > 1e-6:
        raise ConfigError(f"--splits {text!r}: the fractions add up to {sum(splits.values()):g}, not 1")
    return splits


def assign_splits(items: dict[str | None, Sequence[Any]], fractions: dict[str, float], seed: int) -> dict[str, Any]:
    """The source's own splits, else a seeded split by ``fractions``; shuffled either way (seeded)."""
    rng = np.random.default_rng(seed)
    if None not in items:
        return {split: [seq[i] for i in rng.permutation(len(seq))] for split, seq in items.items() if len(seq)}
    pool = items[None]
    order = rng.permutation(len(pool))
    if isinstance(pool, range):  # row numbers: stay in numpy, no million-element lists
        pool = np.arange(pool.start, pool.stop, pool.step)
    result, start, acc = {}, 0, 0.0
    for split, fraction in fractions.items():
        acc += fraction
        end = round(acc * len(pool))
        if end > start:
            chosen = order[start:end]
            result[split] = pool[chosen] if isinstance(pool, np.ndarray) else [pool[i] for i in chosen]
        else:
            logger.warning("split %s gets no examples out of %d; it is left out", split, len(pool))
        start = end
    return result


def carve_validation(
    splits: dict[str, Any], label_of: Callable[[Any], int], fractions: dict[str, float], seed: int
) -> dict[str, Any] | None:
    """Move a stratified, seeded share of train into a new validation split; how, for the manifest (None: not done).

    Done when the source split itself into train and others but not validation,
    and ``fractions`` (``--splits``) has both train and validation.
    """
    if "validation" in splits or "train" not in splits or not {"train", "validation"} <= set(fractions):
        return None
    share = fractions["validation"] / (fractions["train"] + fractions["validation"])
    train = splits["train"]
    by_class: dict[int, list[int]] = collections.defaultdict(list)
    for index, item in enumerate(train):
        by_class[label_of(item)].append(index)
    rng = np.random.default_rng(seed)
    chosen: set[int] = set()
    for label in sorted(by_class):
        members = by_class[label]
        chosen.update(members[i] for i in rng.permutation(len(members))[: round(len(members) * share)])
    if not chosen:
        logger.warning("the source has no validation split, and train (%d examples) is too small to carve one out",
                       len(train))  # fmt: skip
        return None
    splits["validation"] = [item for index, item in enumerate(train) if index in chosen]
    splits["train"] = [item for index, item in enumerate(train) if index not in chosen]
    logger.info("the source has no validation split: %d of its %d train examples (%.1f%%, stratified by class, "
                "seed %d) are the validation split", len(chosen), len(train), 100 * share, seed)  # fmt: skip
    return {"split": "train", "fraction": round(share, 6), "stratified": True, "seed": seed}
