#!/usr/bin/env bash
# Build the stage images from the one recipe, images/Dockerfile: each stage of images/stages
# as its target, from its base image with its pip extra, tagged
#   <REGISTRY/>dlpipe/dlpipe-<stage>:<version in pyproject.toml>
# with whichever engine is installed: docker, podman or buildah.
# Environment: REGISTRY (prefix, e.g. a registry host and path), ENGINE (force one),
# PYTHON_IMAGE / TF_IMAGE (override the base images, e.g. a locally built one);
# buildah also reads BUILDAH_ISOLATION (chroot builds where no OCI runtime can start).
# Layers are cached (buildah is told to; docker and podman do by default), so a rebuild after a
# change to src/ reuses the dependency layers the recipe installs first.
# A build whose output holds a known-transient error (images/transient-build-errors) is
# retried once, with a line saying so.
# Arguments: the stages to build (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(python3 -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")
engine=${ENGINE:-}
if [ -z "$engine" ]; then
  for candidate in docker podman buildah; do
    if command -v "$candidate" >/dev/null 2>&1; then engine=$candidate; break; fi
  done
fi
[ -n "$engine" ] || { echo "build-images: no docker, podman or buildah on PATH" >&2; exit 2; }

base_image() {  # base_image BASE: the image a base of images/stages names
  case "$1" in
    python) echo "${PYTHON_IMAGE:-python:3.11-slim-bookworm}" ;;
    tensorflow) echo "${TF_IMAGE:-tensorflow/tensorflow:2.21.0}" ;;
    tensorflow-gpu) echo "${TF_IMAGE:-tensorflow/tensorflow:2.21.0-gpu}" ;;
    *) echo "build-images: images/stages names an unknown base: $1" >&2; return 2 ;;
  esac
}

build() {  # build STAGE BASE_IMAGE EXTRA TAG
  local args=(--file images/Dockerfile --target "$1" --tag "$4" --build-arg "BASE_IMAGE=$2"
              --build-arg "EXTRA=$3" --build-arg "DLPIPE_VERSION=$version")
  if [ "$engine" = buildah ]; then buildah bud --layers "${args[@]}" .; else "$engine" build "${args[@]}" .; fi
}

transient_error() {  # transient_error LOG: the first line of LOG with a known-transient error
  grep -v -e '^#' -e '^$' images/transient-build-errors | grep -m 1 -F -f - "$1"
}

stages=("$@")
if [ ${#stages[@]} -eq 0 ]; then
  read -r -a stages <<<"$(awk '!/^#/ && NF { printf "%s ", $1 }' images/stages)"
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for stage in "${stages[@]}"; do
  read -r _ base extra <<<"$(awk -v stage="$stage" '!/^#/ && $1 == stage' images/stages)"
  [ -n "${base:-}" ] || { echo "build-images: no stage $stage in images/stages" >&2; exit 2; }
  [ "$extra" != - ] || extra=
  image=$(base_image "$base")
  tag="${REGISTRY:+$REGISTRY/}dlpipe/dlpipe-$stage:$version"
  if ! build "$stage" "$image" "$extra" "$tag" 2>&1 | tee "$log"; then
    error=$(transient_error "$log") || { echo "build-images: building $tag failed" >&2; exit 1; }
    echo "build-images: building $tag failed with a known-transient error; retrying once: $error" >&2
    build "$stage" "$image" "$extra" "$tag"
  fi
  echo "built $tag"
done
