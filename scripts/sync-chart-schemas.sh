#!/usr/bin/env bash
# Rewrite what the charts copy from elsewhere, so that each rule and name is defined once:
# dlpipe-common's shared schema definitions and the package's configuration schema into every
# values.schema.json, and dlpipe.layout's names into dlpipe-common's templates/_layout.tpl.
# Tests fail when a copy has drifted.
set -euo pipefail
cd "$(dirname "$0")/.."
# This checkout's package, also where .venv was installed from another checkout (a git worktree).
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
.venv/bin/python -m tools.chart_schemas
exec .venv/bin/python -m tools.chart_layout
