#!/usr/bin/env bash
# Copy charts/dlpipe-common/schema/defs.json into every chart's values.schema.json.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m tools.chart_schemas
