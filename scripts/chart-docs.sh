#!/usr/bin/env bash
# Regenerate the parameter tables of the chart READMEs from `## @param` comments.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m tools.chart_readme
