"""Loopback ports for the tests' servers."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nobody listens on at the moment (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
