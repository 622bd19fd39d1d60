"""A store whose DuckDB writes fail: nothing is acked, it retries, and gives up to quarantine.

The writer's ``write`` is wrapped to raise like a full disk would; everything else
(NATS, the consumer, acks, NAK delays, DuckDB) is real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from tests.waiting import wait_until
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.store import StoreConfig, StoreService
from tradewire.schemas import Mark, Subjects, encode

pytestmark = [pytest.mark.nats, pytest.mark.slow]


async def run_store(
    url: str, db: Path, fail: Callable[[list[Any]], bool]
) -> tuple[StoreService, asyncio.Task[int]]:
    service = StoreService(
        StoreConfig(nats_url=url, db=str(db), http_port=0, max_wait_s=0.1, max_deliveries=3)
    )
    task = await service.start(20)
    assert service.writer is not None
    real = service.writer.write

    def flaky(events: Sequence[Any], bad: Sequence[Any]) -> Any:
        if events and fail(list(events)):
            raise OSError(28, "No space left on device")
        return real(events, bad)

    service.writer.write = flaky  # type: ignore[method-assign]
    return service, task


async def publish(nc: Client, subjects: Subjects, n: int) -> None:
    for i in range(n):
        ev = Mark(symbol="X", price=1.0, id=f"w-{i}", bot="b1", run="w", seq=i + 1, ts=1.7e9)
        await nc.jetstream().publish(
            subjects.event("b1", "mark"), encode(ev), headers={"Nats-Msg-Id": ev.id}
        )


def count(service: StoreService, sql: str) -> Any:
    assert service.writer is not None
    cur = service.writer.con.cursor()
    try:
        row = cur.execute(sql).fetchone()
        return row[0] if row else None
    finally:
        cur.close()


async def test_transient_failure_retries_then_stores(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    failures = [2]

    def fail(events: list[Any]) -> bool:
        failures[0] -= 1
        return failures[0] >= 0

    service, task = await run_store(nats_server.url, tmp_path / "s.duckdb", fail)
    await publish(nc, subjects, 50)
    await wait_until(lambda: count(service, "SELECT count(*) FROM marks") == 50)
    assert count(service, "SELECT count(*) FROM quarantine") == 0
    await wait_until(lambda: service.health.checks["writes"].ok)  # recovered
    service.stop()
    assert await task == 0


async def test_permanent_failure_ends_in_quarantine_and_the_stream_moves_on(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    def fail(events: list[Any]) -> bool:
        return any(e.id.startswith("w-") for e, _ in events)

    service, task = await run_store(nats_server.url, tmp_path / "s.duckdb", fail)
    await publish(nc, subjects, 5)
    await wait_until(lambda: count(service, "SELECT count(*) FROM quarantine") == 5)
    assert count(service, "SELECT min(reason) FROM quarantine") == "write_failed"
    assert count(service, "SELECT min(num_delivered) FROM quarantine") >= 3
    # A later, healthy event still gets through.
    ok = Mark(symbol="X", price=1.0, id="ok-1", bot="b1", run="ok", seq=1, ts=1.7e9)
    await nc.jetstream().publish(subjects.event("b1", "mark"), encode(ok))
    await wait_until(lambda: count(service, "SELECT count(*) FROM marks") == 1)

    async def all_acked() -> bool:  # acks follow the commit
        info = await nc.jetstream().consumer_info(subjects.events_stream, "tradewire-store")
        return bool(info.num_ack_pending == 0 and info.num_pending == 0)

    await wait_until(all_acked, what="nothing left unacked")
    service.stop()
    assert await task == 0


async def test_start_raises_what_run_raised_instead_of_waiting(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    service = StoreService(
        StoreConfig(nats_url=nats_server.url, db=str(blocker / "x.duckdb"), http_port=0)
    )
    t0 = asyncio.get_running_loop().time()
    with pytest.raises(OSError):
        await service.start(timeout=30)
    assert asyncio.get_running_loop().time() - t0 < 10
