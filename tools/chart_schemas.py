"""Keep the shared ``$defs`` of every chart's values.schema.json in step.

Three sources are copied into each chart's schema, because helm reads each
chart's schema on its own, and only what the chart's schema refers to is kept:

- ``charts/dlpipe-common/schema/defs.json``: image, resources, tolerations, …;
- ``charts/dlpipe-common/schema/kubernetes.json``: the Kubernetes types those
  refer to, generated from the Kubernetes OpenAPI definitions
  (``tools.chart_kubernetes``, which this module re-runs first);
- for a stage chart (``dlpipe-<stage>``), the package's configuration schema
  (``src/dlpipe/schemas/config.schema.json``) as ``$defs.dlpipeConfig``: the
  chart's ``config`` value is written verbatim into the stage's configuration
  file, so it is checked at ``helm install`` by the very rules ``dlpipe``
  applies. Left out: ``root`` (the chart sets it), other stages' sections, and
  plain secrets (refused in files; they come from Secrets).

``python -m tools.chart_schemas`` (scripts/sync-chart-schemas.sh) rewrites the copies;
``drift`` tells which are stale (a test calls it).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from tools import chart_kubernetes
from tools.charts import CHARTS, REPO

COMMON_DEFS = CHARTS / "dlpipe-common" / "schema" / "defs.json"
PACKAGE_SCHEMA = REPO / "src" / "dlpipe" / "schemas" / "config.schema.json"
STAGES = ("ingest", "train", "evaluate", "serving")


def common_defs() -> dict[str, Any]:
    """defs.json and the generated Kubernetes definitions, as committed."""
    defs = {}
    for path in (COMMON_DEFS, chart_kubernetes.KUBERNETES_DEFS):
        defs.update(json.loads(path.read_text()))
        defs.pop("$comment", None)
    return defs


def _prefixed(node: Any) -> Any:
    """Point the package schema's ``#/$defs/x`` references at ``#/$defs/config-x``."""
    if isinstance(node, dict):
        return {k: (v.replace("#/$defs/", "#/$defs/config-") if k == "$ref" else _prefixed(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_prefixed(v) for v in node]
    return node


def _without_plain_secrets(node: Any) -> Any:
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            node = {
                **node,
                "properties": {
                    k: v for k, v in props.items() if not (v.get("writeOnly") and v.get("type") == "string")
                },
            }
        return {k: _without_plain_secrets(v) for k, v in node.items()}
    return node


def config_defs(stage: str) -> dict[str, Any]:
    package = json.loads(PACKAGE_SCHEMA.read_text())
    properties = {k: v for k, v in package["properties"].items() if k != "root" and (k not in STAGES or k == stage)}
    config = {
        "description": f"dlpipe configuration for `dlpipe {stage}`, written verbatim to its configuration file",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    defs = {"dlpipeConfig": _without_plain_secrets(_prefixed(config))}
    defs.update({f"config-{k}": _prefixed(v) for k, v in package["$defs"].items()})
    return defs


def chart_schemas() -> list[Path]:
    return sorted(CHARTS.glob("*/values.schema.json"))


def _references(node: Any) -> set[str]:
    return set(re.findall(r'"#/\$defs/([^"]+)"', json.dumps(node)))


def _generated(name: str) -> bool:
    """Copied in by this module, even where the source no longer has it."""
    return name.startswith(("config-", chart_kubernetes.PREFIX))


def synced(schema: dict[str, Any], chart: str) -> dict[str, Any]:
    """The schema with the shared definitions it refers to in place; the chart's own ones kept first."""
    stage = chart.removeprefix("dlpipe-")
    shared = {**common_defs(), **(config_defs(stage) if stage in STAGES else {})}
    own = {k: v for k, v in schema.get("$defs", {}).items() if k not in shared and not _generated(k)}
    body = {k: v for k, v in schema.items() if k != "$defs"}
    needed: set[str] = set()
    todo = _references(body) | _references(own)
    while todo:
        name = todo.pop()
        if name in shared and name not in needed:
            needed.add(name)
            todo |= _references(shared[name])
    return {**body, "$defs": {**own, **{k: v for k, v in shared.items() if k in needed}}}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2) + "\n"


def drift() -> list[Path]:
    return [p for p in chart_schemas() if p.read_text() != render(synced(json.loads(p.read_text()), p.parent.name))]


def main() -> int:
    chart_kubernetes.main()
    for path in chart_schemas():
        path.write_text(render(synced(json.loads(path.read_text()), path.parent.name)))
        print(f"synced {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
