"""Loaded by every process tests/tooling/kubelet.py starts (its folder leads the children's PYTHONPATH).

Two things a pod gets from its node that a local process does not:

- Cluster DNS: the names in ``KUBELET_SITE_HOSTS`` (the rendered Services' names and FQDNs, one a
  line) resolve to 127.0.0.1, in Python's resolver and in gRPC's (its C core resolves on its own, so the
  target of a new channel is rewritten); every other name resolves as usual.
- Read-only mounts: a write, rename, removal or mode change under a folder of ``KUBELET_SITE_READONLY``
  (one a line) fails with EROFS, as on a read-only mount. An audit hook sees what Python does; what a C
  library writes by itself (TensorFlow's file system) it does not see.
"""

from __future__ import annotations

import errno
import os
import socket
import sys

_HOSTS = frozenset(filter(None, os.environ.get("KUBELET_SITE_HOSTS", "").split("\n")))
_READONLY = tuple(filter(None, os.environ.get("KUBELET_SITE_READONLY", "").split("\n")))


def _local(host: object) -> object:
    if isinstance(host, bytes):
        return b"127.0.0.1" if host.decode(errors="replace").rstrip(".") in _HOSTS else host
    return "127.0.0.1" if isinstance(host, str) and host.rstrip(".") in _HOSTS else host


def _install_dns() -> None:
    getaddrinfo, gethostbyname, gethostbyname_ex = socket.getaddrinfo, socket.gethostbyname, socket.gethostbyname_ex
    socket.getaddrinfo = lambda host, *a, **k: getaddrinfo(_local(host), *a, **k)
    socket.gethostbyname = lambda host: gethostbyname(_local(host))
    socket.gethostbyname_ex = lambda host: gethostbyname_ex(_local(host))


def _grpc_target(target: str) -> str:
    scheme, _, rest = target.rpartition(":///")
    host, sep, port = (rest or target).rpartition(":")
    if not sep or host not in _HOSTS:
        return target
    return f"{scheme + ':///' if scheme else ''}127.0.0.1:{port}"


class _GrpcFinder:
    """Wraps grpc's channel constructors once grpc is imported."""

    def find_spec(self, name, path=None, target=None):
        if name != "grpc":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_wrap(module):
            exec_module(module)
            for factory in ("insecure_channel", "secure_channel"):
                original = getattr(module, factory)
                setattr(module, factory, lambda target, *a, _f=original, **k: _f(_grpc_target(target), *a, **k))

        spec.loader.exec_module = exec_and_wrap
        return spec


# Audit events that change the file system: the positions of their (path, dir_fd) arguments.
_WRITES = {
    "os.mkdir": ((0, 2),), "os.rmdir": ((0, 1),), "os.remove": ((0, 1),), "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),), "os.utime": ((0, 3),), "os.truncate": ((0, None),), "shutil.rmtree": ((0, 1),),
    "os.rename": ((0, 2), (1, 3)), "os.link": ((1, 3),), "os.symlink": ((1, 2),),
}  # fmt: skip


def _readonly(path: object, dir_fd: object) -> str | None:
    """``path`` (relative to ``dir_fd`` when that is given) if it is under a read-only mount."""
    if isinstance(path, int):
        path = f"/proc/self/fd/{path}"
    elif path is None:
        return None
    path = os.fsdecode(path)
    if isinstance(dir_fd, int) and dir_fd >= 0 and not os.path.isabs(path):
        path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
    real = os.path.realpath(path)
    return real if any(real == top or real.startswith(top + os.sep) for top in _READONLY) else None


def _audit(event: str, args: tuple) -> None:
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC)
        )
        checks = [(path, None)] if writing else []  # (os.open's dir_fd is not in the event)
    else:
        checks = [(args[p], args[d] if d is not None else None) for p, d in _WRITES.get(event, ())]
    for path, dir_fd in checks:
        real = _readonly(path, dir_fd)
        if real:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), real)


if _HOSTS:
    _install_dns()
    sys.meta_path.insert(0, _GrpcFinder())
if _READONLY:
    sys.addaudithook(_audit)
