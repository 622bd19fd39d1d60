"""``import gpt-trader --follow``: a live events.db, a follower killed mid-way, every row once."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RunningStore
from tests.waiting import wait_until
from tradewire.consumers.importers._follow import load_follow_state

ROWS = 400
# GPT-Trader's schema and connection settings (persistence/schema.sql, database.py).
WRITER = f"""
import json, sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA synchronous=NORMAL")
con.execute("PRAGMA busy_timeout=5000")
for i in range({ROWS}):
    if i == 1:
        sys.stdin.readline()  # the test says go once the follower has the first row
    payload = {{"symbol": "BTC-USD", "price": str(64000 + i), "timestamp": 1795168800 + i}}
    con.execute("INSERT INTO events (event_type, payload, bot_id) VALUES (?, ?, ?)",
                ("price_tick", json.dumps(payload), "b"))
    time.sleep(0.004)  # a bot's pace, so the follower is killed with rows still coming
"""


def make_live_db(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL"
        " DEFAULT (datetime('now', 'utc')), event_type TEXT NOT NULL, payload TEXT NOT NULL,"
        " bot_id TEXT)"
    )
    con.commit()
    con.close()


def start_follower(db: Path, url: str, tmp: Path) -> subprocess.Popen[str]:
    argv = [
        sys.executable, "-m", "tradewire.consumers.cli", "import", "gpt-trader",
        "--events-db", str(db), "--bot", "live", "--follow", "--poll-interval", "0.05",
        "--nats-url", url, "--outbox-dir", str(tmp / "outbox"), "--no-progress",
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.nats
async def test_follow_survives_sigkill_exactly_once(store: RunningStore, tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    make_live_db(db)
    url = store.service.config.nats_url
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdin=subprocess.PIPE)
    follower = start_follower(db, url, tmp_path)
    state_file = tmp_path / "outbox.follow.json"
    try:
        await store.wait_for("SELECT count(*) FROM marks WHERE bot = 'live'", 1)
        assert writer.stdin is not None
        writer.stdin.write(b"go\n")
        writer.stdin.close()
        await store.wait_for("SELECT count(*) >= 60 FROM marks WHERE bot = 'live'", True)
        os.kill(follower.pid, signal.SIGKILL)  # no chance to save anything
        follower.communicate(timeout=10)
        killed_at = load_follow_state(state_file).watermark
        assert 0 < killed_at < ROWS
        follower = start_follower(db, url, tmp_path)
        await asyncio.to_thread(writer.wait, 60)
        await store.wait_for("SELECT count(*) FROM marks WHERE bot = 'live'", ROWS)
        await wait_until(
            lambda: load_follow_state(state_file).watermark == ROWS, what="the last watermark"
        )
        follower.send_signal(signal.SIGTERM)
        out, err = await asyncio.to_thread(follower.communicate, timeout=20)
        assert follower.returncode == 0, err
    finally:
        for proc in (writer, follower):
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
    # Every row once in the store, and once in the stream: the restart re-sent at most
    # what came after the saved watermark, under the same ids.
    assert store.rows("SELECT count(*), count(DISTINCT id) FROM marks")[0] == (ROWS, ROWS)
    assert store.rows("SELECT min(price), max(price) FROM marks")[0] == (64000, 64000 + ROWS - 1)
    assert store.service.nc is not None
    info = await store.service.nc.jetstream().stream_info(store.service.subjects.events_stream)
    assert info.state.messages == ROWS
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert int(total.split()[1].replace(",", "")) <= ROWS - killed_at  # resumed, not redone
