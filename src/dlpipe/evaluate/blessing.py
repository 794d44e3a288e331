"""The blessing gate, with TFX's semantics.

- An absolute threshold ``METRIC>=VALUE`` (or ``<=``) checks the candidate.
- A change threshold ``METRIC>=DELTA`` (or ``<=``) checks candidate - baseline,
  the baseline being the version currently published under the model name,
  scored on the same data in the same run. With no baseline it passes.
- With no thresholds at all the model is not blessed, unless asked.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from dlpipe.errors import ConfigError

_THRESHOLD = re.compile(r"^\s*([a-z0-9_]+)\s*(>=|<=)\s*(-?[0-9.]+(?:e-?[0-9]+)?)\s*$")


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str, flag: str) -> Threshold:
        match = _THRESHOLD.match(text)
        if not match:
            raise ConfigError(f"{flag} {text!r} is not METRIC>=VALUE or METRIC<=VALUE", "e.g. accuracy>=0.9")
        return cls(match.group(1), match.group(2), float(match.group(3)))

    def holds(self, value: float) -> bool:
        return value >= self.value if self.op == ">=" else value <= self.value


@dataclass
class Check:
    metric: str
    kind: str  # absolute or change
    op: str
    threshold: float
    value: float | None
    baseline: float | None
    passed: bool


def _metric(metrics: dict[str, Any], name: str) -> float:
    value = metrics.get(name)
    if not isinstance(value, (int, float)):
        known = sorted(k for k, v in metrics.items() if isinstance(v, (int, float)))
        raise ConfigError(f"threshold on unknown metric {name!r}", f"metrics: {', '.join(known)}")
    return float(value)


def decide(
    candidate: dict[str, Any],
    baseline: dict[str, Any] | None,
    absolute: list[Threshold],
    change: list[Threshold],
    bless_without_thresholds: bool,
) -> dict[str, Any]:
    checks = []
    for threshold in absolute:
        value = _metric(candidate, threshold.metric)
        checks.append(
            Check(threshold.metric, "absolute", threshold.op, threshold.value, value, None, threshold.holds(value))
        )
    for threshold in change:
        value = _metric(candidate, threshold.metric)
        if baseline is None:
            checks.append(Check(threshold.metric, "change", threshold.op, threshold.value, value, None, True))
            continue
        base = _metric(baseline, threshold.metric)
        checks.append(Check(threshold.metric, "change", threshold.op, threshold.value, value, base,
                            threshold.holds(value - base)))  # fmt: skip
    if not checks:
        blessed = bless_without_thresholds
        reason = (
            "no thresholds; blessed as asked"
            if blessed
            else "no thresholds configured (--bless-without-thresholds to bless anyway)"
        )
    else:
        failed = [c for c in checks if not c.passed]
        blessed = not failed
        reason = "all checks passed" if blessed else "failed: " + ", ".join(f"{c.kind} {c.metric}" for c in failed)
    return {"blessed": blessed, "reason": reason, "checks": [asdict(c) for c in checks]}
