#!/usr/bin/env bash
# Static checks: ruff (Python), hadolint (Dockerfiles), actionlint (workflows).
# The test suite runs the same checks; this is the quick way while editing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
.venv/bin/ruff check src tests bench tools
.venv/bin/ruff format --check src tests bench tools
.venv/bin/hadolint images/Dockerfile
.venv/bin/actionlint .github/workflows/*.yaml
