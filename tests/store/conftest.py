"""A store service running in-process against the test's nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import duckdb
import pytest

from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.store import StoreConfig, StoreService


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

    async def wait_for(self, sql: str, expected: object, timeout: float = 20.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            got = self.rows(sql)[0][0]
            if got == expected:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{sql!r}: {got!r} != {expected!r}")
            await asyncio.sleep(0.05)

    async def stop(self) -> int:
        self.service.stop()
        return await asyncio.wait_for(self.task, 20)


@pytest.fixture
async def store(nats_server: EmbeddedNats, tmp_path: Path) -> AsyncIterator[RunningStore]:
    db = tmp_path / "store.duckdb"
    service = StoreService(
        StoreConfig(nats_url=nats_server.url, db=str(db), http_port=0, max_wait_s=0.1)
    )
    ready = asyncio.Event()
    task = asyncio.create_task(service.run(install_signals=False, ready=ready))
    await asyncio.wait_for(ready.wait(), 20)
    running = RunningStore(service, task, db)
    yield running
    if not task.done():
        await running.stop()


def read_only(db: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(db), read_only=True)
