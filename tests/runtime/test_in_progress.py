"""A batch that takes longer than ack_wait is kept by in-progress acks, not redelivered.

The store's DuckDB write is held on an event (as a slow disk would hold it) until the
consumer has told the server "in progress" for longer than ack_wait; everything else
(NATS, the consumer, the acks, DuckDB) is real.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from tests.waiting import wait_until
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.runtime import PullConsumer
from tradewire.consumers.store import StoreConfig, StoreService
from tradewire.schemas import Mark, Subjects, encode

pytestmark = [pytest.mark.nats, pytest.mark.slow]

ACK_WAIT = 1.5


async def test_slow_batch_is_not_redelivered(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    service = StoreService(
        StoreConfig(
            nats_url=nats_server.url,
            db=str(tmp_path / "s.duckdb"),
            http_port=0,
            max_wait_s=0.1,
            ack_wait_s=ACK_WAIT,
        )
    )
    task = await service.start(20)
    assert service.writer is not None and isinstance(service.consumer, PullConsumer)
    consumer = service.consumer
    writing, release = threading.Event(), threading.Event()
    real = service.writer.write

    def slow(events: Sequence[Any], bad: Sequence[Any]) -> Any:
        writing.set()
        release.wait(30)
        return real(events, bad)

    service.writer.write = slow  # type: ignore[method-assign]
    n = 5
    for i in range(n):
        ev = Mark(symbol="X", price=1.0, id=f"slow-{i}", bot="b1", run="slow", seq=i + 1, ts=1.7e9)
        await nc.jetstream().publish(subjects.event("b1", "mark"), encode(ev))
    await wait_until(writing.is_set, what="the write under way")
    # Four rounds of +WPI, one every ack_wait/3: the batch is now older than ack_wait.
    await wait_until(lambda: consumer.in_progress >= 4 * n, what="four in-progress rounds")
    release.set()
    await wait_until(lambda: service.stored == n, what="all stored")

    async def all_acked() -> bool:
        info = await nc.jetstream().consumer_info(subjects.events_stream, service.config.durable)
        return bool(info.num_ack_pending == 0 and info.num_pending == 0)

    await wait_until(all_acked, what="everything acked")
    info = await nc.jetstream().consumer_info(subjects.events_stream, service.config.durable)
    assert info.delivered.consumer_seq == n  # each message delivered once, none again
    assert consumer.redelivered == 0 and service.duplicates == 0
    assert consumer.batches == 1 and consumer.handled == n
    assert consumer.batch_seconds.count == 1 and consumer.batch_seconds.sum > ACK_WAIT
    service.stop()
    assert await task == 0
