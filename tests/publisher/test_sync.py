"""The thread-backed publisher for bots without asyncio."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from nats.aio.client import Client

from tests.helpers import stream_ids
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.publisher import OutboxLockedError, PublisherClosedError, SyncPublisher
from tradewire.schemas import Subjects

pytestmark = pytest.mark.nats


def run_bot(url: str, outbox: Path, n: int) -> tuple[set[str], int, int]:
    with SyncPublisher(
        "sync-bot", url=url, outbox_dir=outbox, heartbeat_interval_s=0, lifecycle_events=False
    ) as tel:
        ids = set()
        for i in range(n):
            with tel.cycle():
                ids.add(tel.mark(symbol="BTC-USD", price=float(i + 1)).id)
        assert tel.flush(30)
        stats = tel.stats()
    with pytest.raises(PublisherClosedError):
        tel.mark(symbol="X", price=1.0)
    return ids, stats.acked, stats.emitted


async def test_sync_publisher_delivers_from_its_own_thread(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    ids, acked, emitted = await asyncio.to_thread(run_bot, nats_server.url, tmp_path, 1000)
    assert acked == emitted == 2000  # a mark and a cycle each
    stored = await stream_ids(nc, subjects)
    assert ids <= set(stored) and len(stored) == 2000 and max(stored.values()) == 1


def test_start_failure_is_raised_in_the_callers_thread(tmp_path: Path) -> None:
    first = SyncPublisher("lock-bot", url="nats://127.0.0.1:1", outbox_dir=tmp_path)
    try:
        with pytest.raises(OutboxLockedError):
            SyncPublisher("lock-bot", url="nats://127.0.0.1:1", outbox_dir=tmp_path)
    finally:
        first.close(timeout=0.1)
