#!/usr/bin/env bash
# The charts as a chart repository, or checked the way chart-testing's `ct lint` checks them:
#   scripts/charts.sh package [--out DIR]     every chart as a .tgz plus index.yaml (default dist/charts)
#   scripts/charts.sh lint [--charts DIR]     yamale, yamllint, helm lint --strict, kubernetes-validate --strict
# `--help` after the action tells more. These work on the repository's charts (an installed
# dlpipe carries none), so they are repository tools (tools/), not dlpipe commands.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
case "${1:-}" in
  package | lint) action=$1; shift ;;
  *) echo "usage: scripts/charts.sh package|lint [--help]" >&2; exit 2 ;;
esac
# Relative paths in the arguments stay relative to the caller's folder: no cd.
export PATH="$here/.tools/bin:$PATH" PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
exec "$here/.venv/bin/python" -m "tools.chart_$action" "$@"
