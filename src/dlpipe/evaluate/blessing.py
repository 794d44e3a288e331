"""The blessing gate, with TFX's semantics.

- An absolute threshold ``METRIC>=VALUE`` (or ``<=``) checks the candidate.
- A change threshold ``METRIC>=DELTA`` (or ``<=``) checks candidate - baseline,
  the baseline being the version currently published under the model name,
  scored on the same data in the same run. With no baseline it passes.
- With no thresholds at all the model is not blessed, unless asked.
- ``bless_without_thresholds`` blesses without checking any threshold, the
  schema's default policy included.

The default policy (``accuracy>=0.8`` and at most one point worse than the
published model) is the configuration schema's default, so ``dlpipe evaluate``,
``dlpipe run`` and the evaluate chart apply the same one.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from dlpipe.errors import ConfigError
from dlpipe.schemas import load_schema

# The schema's rule, so a threshold the configuration accepts is one this module can read.
_RULE = load_schema("config")["$defs"]["threshold"]
_THRESHOLD = re.compile(_RULE["pattern"])


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str, flag: str) -> Threshold:
        match = _THRESHOLD.match(text)
        if not match:
            raise ConfigError(f"{flag} {text!r} is not allowed: write {_RULE['description']}")
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


def describe(check: dict[str, Any]) -> str:
    """One check as a line: ``change accuracy -0.35 (0.58 vs baseline 0.93) >= -0.01: FAIL``.

    A change check shows the change it tested, with both values beside it.
    """
    rule = f"{check['op']} {check['threshold']:g}: {'pass' if check['passed'] else 'FAIL'}"
    if check["kind"] == "absolute":
        return f"{check['metric']} {check['value']:.3g} {rule}"
    if check["baseline"] is None:
        return f"change {check['metric']} (no published baseline yet) {rule}"
    change = check["value"] - check["baseline"]
    return f"change {check['metric']} {change:+.3g} ({check['value']:.3g} vs baseline {check['baseline']:.3g}) {rule}"


def decide(
    candidate: dict[str, Any],
    baseline: dict[str, Any] | None,
    absolute: list[Threshold],
    change: list[Threshold],
    bless_without_thresholds: bool,
) -> dict[str, Any]:
    if bless_without_thresholds:
        return {"blessed": True, "reason": "blessed without checking thresholds, as asked", "checks": []}
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
    rows = [asdict(c) for c in checks]
    if not rows:
        return {"blessed": False, "checks": [],
                "reason": "no thresholds configured (set --threshold, or --bless-without-thresholds)"}  # fmt: skip
    failed = [describe(row) for row in rows if not row["passed"]]
    reason = "; ".join(failed) if failed else "all checks passed"
    return {"blessed": not failed, "reason": reason, "checks": rows}
