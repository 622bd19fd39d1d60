"""Shared fixtures: a real nats-server on loopback, fresh for each test that asks for one.

A test that needs nats-server skips when none can be found, unless
TRADEWIRE_REQUIRE_EXTERNAL=1 (as in CI), where the skip becomes a failure.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import duckdb
import nats
import pytest
from hypothesis import HealthCheck, settings
from nats.aio.client import Client

from tests.waiting import wait_until
from tradewire.consumers.embedded import EmbeddedNats, NatsServerNotFound, find_nats_server
from tradewire.consumers.store import StoreConfig, StoreService
from tradewire.publisher import ensure_events_stream
from tradewire.schemas import Subjects

REQUIRE_EXTERNAL = os.environ.get("TRADEWIRE_REQUIRE_EXTERNAL") == "1"

# The suite runs on a shared 2-core machine, sometimes two copies at once: generating
# examples may be slow there, which says nothing about the code under test.
settings.register_profile("tradewire", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("tradewire")


def need_external(what: str, reason: str) -> None:
    """Skip for lack of an external binary, or fail when CI requires it."""
    message = f"{what} not available: {reason}"
    if REQUIRE_EXTERNAL:
        pytest.fail(f"{message} (TRADEWIRE_REQUIRE_EXTERNAL=1)")
    pytest.skip(message)


@pytest.fixture
def nats_server() -> Iterator[EmbeddedNats]:
    try:
        find_nats_server()
    except NatsServerNotFound as exc:
        need_external("nats-server", str(exc))
    server = EmbeddedNats().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def subjects() -> Subjects:
    return Subjects()


@pytest.fixture
async def nc(nats_server: EmbeddedNats, subjects: Subjects) -> AsyncIterator[Client]:
    """A client on the test server, with the events stream created."""
    client = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    await ensure_events_stream(client, subjects)
    yield client
    await client.close()


class RunningStore:
    def __init__(self, service: StoreService, task: asyncio.Task[int], db: Path) -> None:
        self.service = service
        self.task = task
        self.db = db

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        """Query through the service's own connection (the file is locked while it runs)."""
        assert self.service.writer is not None
        cur = self.service.writer.con.cursor()
        try:
            return cur.execute(sql).fetchall()
        finally:
            cur.close()

    async def wait_for(self, sql: str, expected: object, timeout: float = 30.0) -> None:
        await wait_until(
            lambda: self.rows(sql)[0][0] == expected, timeout=timeout, what=f"{sql} = {expected!r}"
        )

    async def caught_up(self) -> bool:
        """Everything in the stream has been handled (and acked) by this store."""
        assert self.service.nc is not None
        cfg = self.service.config
        info = await self.service.nc.jetstream().consumer_info(
            self.service.subjects.events_stream, cfg.durable
        )
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    async def stop(self) -> int:
        self.service.stop()
        return await asyncio.wait_for(self.task, 20)


@pytest.fixture
async def store(nats_server: EmbeddedNats, tmp_path: Path) -> AsyncIterator[RunningStore]:
    db = tmp_path / "store.duckdb"
    service = StoreService(
        StoreConfig(nats_url=nats_server.url, db=str(db), http_port=0, max_wait_s=0.1)
    )
    task = await service.start(20)
    running = RunningStore(service, task, db)
    yield running
    if not task.done():
        await running.stop()


def read_only(db: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(db), read_only=True)
