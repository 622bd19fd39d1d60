"""SIGKILL the store mid-ingest, again and again; every published event ends up stored once."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from tests.waiting import wait_until
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.publisher import Publisher
from tradewire.schemas import Subjects

pytestmark = [pytest.mark.nats, pytest.mark.slow]


def start_store(url: str, db: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tradewire.consumers.cli",
            "serve",
            "store",
            "--nats-url",
            url,
            "--db",
            str(db),
            "--http-port",
            "0",
            "--max-batch",
            "2000",
            "--max-wait-s",
            "0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # Messages the killed store held come back after ack_wait: keep the test short.
        env={**os.environ, "TRADEWIRE_STORE_ACK_WAIT_S": "3"},
    )


def stored(db: Path) -> tuple[int, int]:
    """(rows, distinct ids) in the marks table, opening the file read-only."""
    if not db.exists():
        return 0, 0
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute("SELECT count(*), count(DISTINCT id) FROM marks").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def test_repeated_sigkill_then_restart_loses_and_duplicates_nothing(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    total = 40_000
    async with Publisher(
        "kill-bot", url=nats_server.url, outbox_dir=tmp_path / "outbox", heartbeat_interval_s=0
    ) as tel:
        ids = {tel.mark(symbol="BTC-USD", price=float(i + 1)).id for i in range(total)}
        for _ in range(total // 1000):
            await asyncio.sleep(0)
        assert await tel.flush(60)
    db = tmp_path / "store.duckdb"
    js = nc.jetstream()

    async def acked_past(n: int) -> bool:
        try:
            info = await js.consumer_info(subjects.events_stream, "tradewire-store")
        except NotFoundError:  # the first store has not created its durable yet
            return False
        return int(info.ack_floor.stream_seq or 0) >= n

    at_kill = []
    for k in range(5):
        proc = start_store(nats_server.url, db)
        # Kill once this store has committed and acked past a point further each time,
        # so the kill lands mid-ingest however slowly the machine starts the process.
        target = (k + 1) * total // 8
        await wait_until(
            functools.partial(acked_past, target), timeout=60, what=f"{target} events acked"
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
        rows, distinct = stored(db)  # the file reopens after a kill (WAL replay)
        assert rows == distinct
        at_kill.append(rows)
        if rows == total:
            break
    print("rows at each kill:", at_kill)
    assert any(0 < n < total for n in at_kill), at_kill  # some kill landed mid-ingest
    proc = start_store(nats_server.url, db)

    async def done() -> bool:
        info = await js.consumer_info(subjects.events_stream, "tradewire-store")
        # Done, and this store is up and pulling (so SIGTERM meets its handler).
        return bool(info.num_pending == 0 and info.num_ack_pending == 0 and info.num_waiting > 0)

    try:
        await wait_until(done, timeout=60, interval=0.2, what="the restarted store to finish")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert proc.stderr is not None
        proc.stderr.close()
    with duckdb.connect(str(db), read_only=True) as con:
        got = {r[0] for r in con.execute("SELECT id FROM marks").fetchall()}
        final = con.execute("SELECT count(*) FROM marks").fetchone()
    assert got == ids
    assert final == (total,)
