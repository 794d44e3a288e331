#!/usr/bin/env bash
# The one test command: set up from scratch if needed, then run the suite.
# Extra arguments go to pytest (e.g. scripts/test.sh -k layout).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.tools/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
