"""Loopback networking helpers for tests that start other programs."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a program that must be told its port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
