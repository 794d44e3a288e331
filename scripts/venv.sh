#!/usr/bin/env bash
# .venv with the package and the extras named in $1 (comma-separated), e.g.
#   scripts/venv.sh ingest,train,evaluate,serving        (scripts/run.sh: what the pipeline needs)
#   scripts/venv.sh dev,ingest,train,evaluate,serving    (scripts/setup.sh: the tests' tools too)
# Installs with uv, itself installed from PyPI into the venv, which resolves and installs several
# times faster than pip and reuses its cache (~/.cache/uv) from one clone to the next; falls back to
# pip (and pip's cache) when uv cannot be had or fails, e.g. behind an index that only pip is
# configured for. Re-runs are quick: a stamp per installed set of extras, for this pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=${1:?usage: scripts/venv.sh EXTRA[,EXTRA...]}
PYTHON=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
project=$(sha256sum pyproject.toml | cut -c1-16)
wanted=$(tr , '\n' <<<"$extras" | sort -u)
# Done already, with these extras or more (a test set-up covers what run.sh needs)?
for stamp in .venv/.deps-"$project"-*; do
  if [ -f "$stamp" ] && [ -z "$(comm -23 <(echo "$wanted") "$stamp")" ]; then
    exit 0
  fi
done

if [ -x .venv/bin/uv ] || .venv/bin/python -m pip install --quiet uv; then
  .venv/bin/uv pip install --quiet --python .venv/bin/python -e ".[$extras]" || {
    echo "venv: uv could not install; trying pip" >&2
    .venv/bin/python -m pip install --quiet -e ".[$extras]"
  }
else
  .venv/bin/python -m pip install --quiet -e ".[$extras]"
fi
find .venv -maxdepth 1 -name '.deps-*' ! -name ".deps-$project-*" -delete  # stamps of an older pyproject.toml
echo "$wanted" >".venv/.deps-$project-$(tr '\n' + <<<"$wanted" | sed 's/+$//')"
