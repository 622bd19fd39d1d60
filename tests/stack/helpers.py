"""The real tools the stack tests run (docker-compose, promtool, amtool, ...)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import need_external
from tradewire.consumers.stack import find_compose_dir

__all__ = [
    "COMPOSE",
    "cli",
    "compose_config",
    "free_ports",
    "left_behind",
    "read",
    "run_tool",
    "tool",
]

COMPOSE = find_compose_dir()
PACKAGES = {
    "docker-compose": "docker-compose",
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "amtool": "prometheus-alertmanager",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "prometheus-node-exporter": "prometheus-node-exporter",
}


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        need_external(name, f"install Debian's {PACKAGES[name]} package")
    assert found
    return found


def run_tool(name: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run a tool and return its output; fail the test with it when it exits non-zero."""
    result = subprocess.run(
        [tool(name), *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert result.returncode == 0, f"{name} {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def compose_config() -> dict[str, Any]:
    """``docker-compose config`` of the stack with the observability profile, parsed."""
    env = {"PATH": "/usr/bin:/bin", "GRAFANA_ADMIN_PASSWORD": "test"}
    out = run_tool(
        "docker-compose",
        "-f",
        str(COMPOSE / "docker-compose.yml"),
        "--profile",
        "observability",
        "config",
        env=env,
    )
    data = yaml.safe_load(out)
    assert isinstance(data, dict)
    return data


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 right now."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def read(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradewire.consumers.cli", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env=env,
    )


def left_behind(state: Path) -> list[str]:
    """Processes whose command line names the state dir (none may survive `down`)."""
    left = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            zombie = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if str(state) in cmd and not zombie:
            left.append(f"{proc.name}: {cmd[:120]}")
    return left
