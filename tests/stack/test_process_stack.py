"""`tradewire stack` as an operator meets it: a process dies, a second `up`, `down`."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest

from tests.conftest import need_external
from tests.stack.helpers import cli, free_ports, left_behind
from tests.waiting import wait_until_sync
from tradewire.consumers.embedded import NatsServerNotFound, find_nats_server
from tradewire.consumers.stack import COMPONENTS, load_state

pytestmark = pytest.mark.slow


def test_status_sees_a_dead_process_and_down_cleans_up(tmp_path: Path) -> None:
    try:
        find_nats_server()
    except NatsServerNotFound as exc:
        need_external("nats-server", str(exc))
    state = tmp_path / "stack"
    ports = dict(zip((c.name for c in COMPONENTS), free_ports(len(COMPONENTS)), strict=True))
    flags = [f"--port={name}={port}" for name, port in ports.items()]
    up = cli("stack", "up", "--core-only", "--state-dir", str(state), *flags)
    try:
        assert up.returncode == 0, up.stderr
        assert "Prometheus" not in up.stdout  # core only, as compose without the profile
        recorded = load_state(state)
        assert recorded is not None
        assert [p.name for p in recorded.procs] == ["nats", "store", "metrics", "alerts"]

        again = cli("stack", "up", "--core-only", "--state-dir", str(state), *flags)
        assert again.returncode == 2 and "a stack is running from" in again.stderr

        metrics = next(p for p in recorded.procs if p.name == "metrics")
        os.kill(metrics.pid, signal.SIGKILL)  # a process of the stack dies

        def metrics_down() -> bool:
            out = cli("stack", "status", "--state-dir", str(state), "--format", "json").stdout
            rows = json.loads(out)
            return any(r["name"] == "metrics" and not r["running"] for r in rows)

        wait_until_sync(metrics_down, timeout=10, what="status to see metrics gone")
        status = cli("stack", "status", "--state-dir", str(state))
        assert status.returncode == 1
        assert re.search(r"metrics\s+\d+\s+NO", status.stdout), status.stdout
    finally:
        down = cli("stack", "down", "--state-dir", str(state))
    assert down.returncode == 0, down.stderr
    assert down.stdout.strip() == "stopped: alerts, store, nats"  # not the dead one
    assert not left_behind(state)
