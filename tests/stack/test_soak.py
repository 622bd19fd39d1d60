"""benchmarks/soak.py in miniature: the whole pipeline as processes, one SIGKILL, one
nats-server restart, and the script's own checks (exact counts, every page once)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need_external
from tradewire.consumers.embedded import NatsServerNotFound, find_nats_server

pytestmark = pytest.mark.slow

SOAK = Path(__file__).parents[2] / "benchmarks" / "soak.py"


def test_a_short_soak_with_a_kill_and_a_nats_restart_passes_its_checks(tmp_path: Path) -> None:
    try:
        find_nats_server()
    except NatsServerNotFound as exc:
        need_external("nats-server", str(exc))
    out = tmp_path / "soak.json"
    # 6 s of fleet: nats-server restarts at 1.5 s, the store is SIGKILLed at 3 s.
    argv = [sys.executable, str(SOAK), "--bots=5", "--rate=20", "--duration=6"]
    argv += ["--kill-every=3", "--tail=2", "--nats-down=1", "--sample-every=1"]
    argv += ["--targets=store", "--incident=drawdown:sim-bot-2:0", f"--json={out}"]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=55, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["failures"] == []
    events = result["events"]
    assert events["acked"] == events["stored_unique"] == events["in_stream"] > 0
    assert events["lost"] == events["duplicated"] == events["seq_holes"] == 0
    how = [life["how"] for life in result["lives"]["store"]]
    assert how[0] in ("SIGKILL", "SIGTERM")  # killed, or stopped while NATS was down
    assert "SIGKILL" in how and how[-1] == "SIGTERM"
    assert len(result["lives"]["nats-server"]) == 2
    # The drawdown from the start fires within the run: one page, through the webhook.
    (incident,) = result["alerts"]["incidents"]
    assert incident["pages"] == 1 and result["alerts"]["paged_twice"] == 0
    names = {row["name"] for row in result["resources"]}
    assert {"store", "metrics", "alerts", "nats-server"} <= names
