"""Keep the shared ``$defs`` of every chart's values.schema.json in step.

The definitions live once, in ``charts/dlpipe-common/schema/defs.json``. Helm
reads each chart's schema on its own, so each carries a copy; ``sync`` rewrites
the copies and ``drift`` tells which are stale (a test calls it).

    python -m tests.tooling.chart_schemas   # rewrite the copies
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "charts"
COMMON_DEFS = CHARTS / "dlpipe-common" / "schema" / "defs.json"


def common_defs() -> dict[str, Any]:
    defs = json.loads(COMMON_DEFS.read_text())
    defs.pop("$comment", None)
    return defs


def chart_schemas() -> list[Path]:
    return sorted(CHARTS.glob("*/values.schema.json"))


def synced(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with the common definitions in place; chart-own ones kept first."""
    common = common_defs()
    own = {k: v for k, v in schema.get("$defs", {}).items() if k not in common}
    return {**schema, "$defs": {**own, **common}}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2) + "\n"


def drift() -> list[Path]:
    return [p for p in chart_schemas() if p.read_text() != render(synced(json.loads(p.read_text())))]


def main() -> int:
    for path in chart_schemas():
        path.write_text(render(synced(json.loads(path.read_text()))))
        print(f"synced {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
