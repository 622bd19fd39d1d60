"""Loopback helpers for tests that start other programs (Prometheus, Alertmanager)."""

from __future__ import annotations

import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.waiting import wait_until_sync

__all__ = ["free_port", "web_server"]


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a program that must be told its port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def web_server(args: list[str], log: Path, timeout: float = 30.0) -> Iterator[str]:
    """Run a Prometheus-style server (``--web.listen-address``, ``/-/ready``) on a free
    loopback port; yield its URL once ready; stop it (the process started here) after."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*args, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=1) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        try:
            wait_until_sync(ready, timeout=timeout, what=f"{Path(args[0]).name} /-/ready")
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
