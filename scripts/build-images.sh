#!/usr/bin/env bash
# Build every stage image (images/<stage>/Dockerfile) with consistent tags:
#   <REGISTRY/>dlpipe/dlpipe-<stage>:<package version>
# with whichever engine is installed: docker, podman or buildah.
# Environment: REGISTRY (prefix, e.g. a registry host and path), ENGINE (force one),
# PYTHON_IMAGE / TF_IMAGE (override the base images, e.g. a locally built one);
# buildah also reads BUILDAH_ISOLATION (chroot builds where no OCI runtime can start).
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

build_args=()
[ -n "${PYTHON_IMAGE:-}" ] && build_args+=(--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
[ -n "${TF_IMAGE:-}" ] && build_args+=(--build-arg "TF_IMAGE=$TF_IMAGE")

stages=("$@")
if [ ${#stages[@]} -eq 0 ]; then
  for dir in images/*/; do stages+=("$(basename "$dir")"); done
fi
for stage in "${stages[@]}"; do
  [ -f "images/$stage/Dockerfile" ] || { echo "build-images: no images/$stage/Dockerfile" >&2; exit 2; }
  tag="${REGISTRY:+$REGISTRY/}dlpipe/dlpipe-$stage:$version"
  case "$engine" in
    buildah) buildah bud --file "images/$stage/Dockerfile" --tag "$tag" "${build_args[@]}" . ;;
    *) "$engine" build --file "images/$stage/Dockerfile" --tag "$tag" "${build_args[@]}" . ;;
  esac
  echo "built $tag"
done
