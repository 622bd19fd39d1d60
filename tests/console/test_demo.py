"""``tradewire demo`` opens with the console and runs until Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import need_external
from tests.waiting import wait_until_sync
from tradewire.consumers.embedded import NatsServerNotFound, find_nats_server

pytestmark = [pytest.mark.nats, pytest.mark.slow]


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        return bytes(r.read())


def test_demo_prints_the_console_first_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    try:
        find_nats_server()
    except NatsServerNotFound as exc:
        need_external("nats-server", str(exc))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIRE_")}
    demo = ["demo", "--bots", "2", "--rate", "40", "--out-dir", str(tmp_path)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradewire.consumers.cli", *demo],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a shell gives a job
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        lines.extend(proc.stdout)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_until_sync(lambda: lines or proc.poll() is not None, what="the first line")
        assert lines and lines[0].startswith("console: http://127.0.0.1:"), lines
        base = lines[0].split()[1].rstrip("/")
        assert b"tradewire fleet" in fetch(base + "/")

        def both_bots() -> bool:
            assert proc.poll() is None, "".join(lines)
            return len(json.loads(fetch(base + "/api/fleet"))["rows"]) == 2

        wait_until_sync(both_bots, what="both bots in the console")
        assert proc.poll() is None  # no --duration: it keeps going
        # A terminal's Ctrl-C goes to the whole foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=45) == 0, "".join(lines)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(5)
    assert proc.stdout is not None
    proc.stdout.close()
    out = "".join(lines)
    assert "simulating 2 bots at 40 events/s each until Ctrl-C" in out
    assert "OK: every emitted event is in the stream and in DuckDB exactly once" in out
    assert len(list((tmp_path / "reports").glob("daily_report_*.html"))) == 1
