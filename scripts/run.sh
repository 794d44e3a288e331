#!/usr/bin/env bash
# Try the whole pipeline on this machine: set up if needed, then `dlpipe run`
# (ingest sample:digits, train, evaluate, publish, serve on :8501).
# Arguments go to `dlpipe run` (see `dlpipe run --help`).
# Installs only what running the pipeline needs (no test tools, no helm):
# scripts/test.sh installs the rest.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/scripts/venv.sh" ingest,train,evaluate,serving
exec "$here/.venv/bin/dlpipe" run "$@"
