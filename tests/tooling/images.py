"""Building and running the stage images here, where no base image can be pulled and no OCI
runtime can start: a Debian base made with debootstrap, builds with buildah's chroot
isolation, and runs as a chroot into the image's root file system mounted read-only,
as uid 1000, with a tmpfs at /tmp and a host folder at /data (what the charts give a pod).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

from tools.charts import REPO

BASE = "localhost/dlpipe-test/python-base:bookworm"
TF_BASE = "localhost/dlpipe-test/tensorflow-base:2.21"  # stands in for tensorflow/tensorflow:2.21.0(-gpu)
SYSTEM_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def why_not_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root (chroot and mounts)"
    for tool in ("buildah", "debootstrap", "mount", "chroot"):
        if shutil.which(tool) is None:
            return f"needs {tool} (scripts/setup.sh installs buildah and debootstrap on Debian)"
    return None


def stages() -> dict[str, str]:
    """Each stage image and the base it is built on (``python``, ``tensorflow``, ``tensorflow-gpu``)."""
    lines = (line.split() for line in (REPO / "images" / "stages").read_text().splitlines())
    return {fields[0]: fields[1] for fields in lines if fields and not fields[0].startswith("#")}


def transient_error(output: str) -> str | None:
    """The known-transient build error in ``output`` (images/transient-build-errors), if any."""
    listed = (REPO / "images" / "transient-build-errors").read_text().splitlines()
    return next((error for error in listed if error and not error.startswith("#") and error in output), None)


def _run(*cmd: str, retry_transient: bool = False, **kwargs: object) -> str:
    """``cmd``'s output; with ``retry_transient``, a second try after a known-transient error."""
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0 and retry_transient and (error := transient_error(result.stdout + result.stderr)):
        warnings.warn(f"{' '.join(cmd[:4])} failed with a known-transient error; retried once: {error}", stacklevel=2)
        result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        output = result.stdout + result.stderr
        raise AssertionError(f"{' '.join(cmd[:4])} failed ({result.returncode}):\n{output[-3000:]}")
    return result.stdout.strip()


def _exists(image: str) -> bool:
    return subprocess.run(["buildah", "inspect", "--type", "image", image], capture_output=True).returncode == 0


def ensure_base() -> str:
    """A Debian bookworm image with Python 3.11 and pip, trusting this machine's CAs (for PyPI during builds)."""
    if _exists(BASE):
        return BASE
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run("debootstrap", "--variant=minbase", "--include=python3,python3-pip,python3-venv", "bookworm", str(rootfs))
        if SYSTEM_CA.is_file():
            shutil.copy(SYSTEM_CA, rootfs / SYSTEM_CA.relative_to("/"))
        container = _run("buildah", "from", "scratch")
        try:
            mount = _run("buildah", "mount", container)
            _run("cp", "-a", f"{rootfs}/.", mount)
            _run("buildah", "umount", container)
            # Debian marks its Python as externally managed; in an image, pip owns it.
            _run("buildah", "config", "--env", "PIP_BREAK_SYSTEM_PACKAGES=1", "--env", "PIP_ROOT_USER_ACTION=ignore",
                 container)  # fmt: skip
            _run("buildah", "commit", "-q", container, BASE)
        finally:
            subprocess.run(["buildah", "rm", container], capture_output=True)
    return BASE


def ensure_tf_base() -> str:
    """The Debian base with TensorFlow 2.21 installed, as the official TensorFlow image has it."""
    if not _exists(TF_BASE):
        container = _run("buildah", "from", ensure_base())
        try:
            _run("buildah", "run", "--isolation", "chroot", container, "--", "pip", "install", "--no-cache-dir",
                 "tensorflow==2.21.*", retry_transient=True)  # fmt: skip
            _run("buildah", "commit", "-q", container, TF_BASE)
        finally:
            subprocess.run(["buildah", "rm", container], capture_output=True)
    return TF_BASE


def build(stage: str) -> str:
    """scripts/build-images.sh for one stage (it retries known-transient errors itself), on the bases here."""
    env = {**os.environ, "ENGINE": "buildah", "BUILDAH_ISOLATION": "chroot", "PYTHON_IMAGE": ensure_base()}
    if stages()[stage].startswith("tensorflow"):
        env["TF_IMAGE"] = ensure_tf_base()
    out = _run(str(REPO / "scripts" / "build-images.sh"), stage, env=env, cwd=REPO)
    return "localhost/" + out.splitlines()[-1].removeprefix("built ")


def config(image: str) -> dict:
    return json.loads(_run("buildah", "inspect", "--type", "image", image))["OCIv1"]["config"]


@contextlib.contextmanager
def read_only_root(image: str, data: Path) -> Iterator[Path]:
    """The image's root file system, read-only, with /tmp a tmpfs and ``data`` at /data."""
    container = _run("buildah", "from", image)
    merged = Path(_run("buildah", "mount", container))
    (merged / "data").mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="dlpipe-image-"))
    mounts: list[Path] = []
    try:
        _run("mount", "--bind", str(merged), str(root))
        mounts.append(root)
        _run("mount", "-o", "remount,ro,bind", str(root))
        _run("mount", "-t", "tmpfs", "tmpfs", str(root / "tmp"))
        mounts.append(root / "tmp")
        _run("mount", "--bind", str(data), str(root / "data"))
        mounts.append(root / "data")
        yield root
    finally:
        for mount in reversed(mounts):
            subprocess.run(["umount", str(mount)], capture_output=True)
        root.rmdir()
        subprocess.run(["buildah", "rm", container], capture_output=True)


def run_as_pod(root: Path, image: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The image's entrypoint with ``args``, as its USER, in the read-only root."""
    cfg = config(image)
    user = cfg.get("User", "0:0")
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *cfg.get("Env", [])]
    cmd = ["chroot", f"--userspec={user}", str(root), "/usr/bin/env", "-i", *env, *cfg["Entrypoint"], *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd="/")
