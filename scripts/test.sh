#!/usr/bin/env bash
# The one test command: set up from scratch if needed, then run the suite.
# Extra arguments go to pytest (e.g. scripts/test.sh -k layout).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.tools/bin:$PATH"
# A process per CPU, each taking whole test files (tests/conftest.py groups them); `-n 0` runs one.
exec .venv/bin/python -m pytest -n logical --dist loadgroup "$@"
