"""Exactly once with a real nats-server, past JetStream's duplicate window: a store
restarted between copies, an outbox replayed whole, a crash between COMMIT and the
acks, and ids that carry no sequence (importers, bridges)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from nats.aio.client import Client

from tests.conftest import RunningStore
from tests.waiting import wait_until
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.runtime import Acks, Delivery
from tradewire.consumers.store import StoreConfig, StoreService
from tradewire.publisher import Publisher, StreamLimits, apply_stream_limits
from tradewire.schemas import Fill, Mark, Subjects, encode

pytestmark = pytest.mark.nats


async def start_store(
    url: str, db: Path, service: type[StoreService] = StoreService
) -> RunningStore:
    # A short ack wait: what a stopped store left unacked comes back within a second.
    config = StoreConfig(nats_url=url, db=str(db), http_port=0, max_wait_s=0.1, ack_wait_s=1.0)
    svc = service(config)
    return RunningStore(svc, await svc.start(20), db)


async def no_duplicate_window(nc: Client, subjects: Subjects) -> None:
    """Copies that come minutes apart pass JetStream's Nats-Msg-Id window: only the
    store's own dedup is left to catch them, as here."""
    await apply_stream_limits(nc, subjects, StreamLimits(duplicate_window_s=0.1))


def publisher(url: str, outbox: Path) -> Publisher:
    return Publisher(
        "replay-bot", url=url, outbox_dir=outbox, heartbeat_interval_s=0, lifecycle_events=False
    )


async def test_an_outbox_replayed_after_a_store_restart_is_stored_once(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    await no_duplicate_window(nc, subjects)
    outbox, n = tmp_path / "outbox", 3000
    # The bot's first life never reaches NATS: everything waits in its outbox.
    first = await publisher("nats://127.0.0.1:1", outbox).start()
    ids = {first.mark(symbol="BTC-USD", price=float(i + 1)).id for i in range(n)}
    assert (await first.close(timeout=0.2)).in_outbox == n
    # A crash after the events were acked but before the segment was deleted leaves it
    # on disk: the life after that sends it again, whole.
    crashed = tmp_path / "crashed"
    shutil.copytree(outbox, crashed)
    db = tmp_path / "store.duckdb"
    store = await start_store(nats_server.url, db)
    second = await publisher(nats_server.url, outbox).start()
    assert await second.flush(30)
    await second.close()
    await wait_until(store.caught_up, what="the first replay stored")
    assert store.service.stored == n
    assert await store.stop() == 0

    store = await start_store(nats_server.url, db)  # nothing in memory: read from the file
    third = await publisher(nats_server.url, crashed).start()
    assert await third.flush(30)
    assert (await third.close()).acked == n
    await wait_until(lambda: store.service.duplicates == n, what=f"{n} duplicates")
    await wait_until(store.caught_up)
    assert {r[0] for r in store.rows("SELECT id FROM marks")} == ids
    assert store.rows("SELECT count(*) FROM marks") == [(n,)]
    assert (await nc.jetstream().stream_info(subjects.events_stream)).state.messages == 2 * n
    await store.stop()


class AcksLost(StoreService):
    """Commits each batch, then dies before its acks leave (they never do)."""

    async def handle(self, batch: Sequence[Delivery]) -> Acks:
        await super().handle(batch)
        return Acks()


async def test_a_crash_between_commit_and_ack_stores_the_redelivery_once(
    nats_server: EmbeddedNats, nc: Client, tmp_path: Path
) -> None:
    db, n = tmp_path / "store.duckdb", 4000
    async with publisher(nats_server.url, tmp_path / "outbox") as tel:
        ids = {tel.mark(symbol="BTC-USD", price=float(i + 1)).id for i in range(n)}
        assert await tel.flush(30)
        crashed = await start_store(nats_server.url, db, AcksLost)
        await wait_until(lambda: crashed.service.stored == n, what="all committed")
        assert await crashed.stop() == 0
        # More events while no store runs, ahead of the redeliveries' return.
        ids |= {tel.fill(symbol="BTC-USD", side="buy", qty=1, price=1).id for _ in range(100)}
        assert await tel.flush(30)
    store = await start_store(nats_server.url, db)
    await wait_until(store.caught_up, what="redeliveries handled and acked")
    assert (store.service.stored, store.service.duplicates) == (100, n)
    assert {r[0] for r in store.rows("SELECT id FROM events")} == ids
    assert store.rows("SELECT count(*) FROM events") == [(n + 100,)]
    await store.stop()


async def test_ids_without_a_sequence_are_stored_once_across_restarts(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    """An importer's ids (a hash, or a row's second event ``<hash>-1``) and an id whose
    run and seq fields say something else: each decided by its id alone."""
    await no_duplicate_window(nc, subjects)
    events = [
        Mark(symbol="X", price=1.0, id="gpt4e1f0c9a8b7d", bot="imp", run="gptrun", seq=1),
        Fill(
            symbol="X",
            side="buy",
            qty=1,
            price=1,
            id="gpt4e1f0c9a8b7d-1",
            bot="imp",
            run="gptrun",
            seq=2,
        ),
        Mark(symbol="X", price=2.0, id="gpt0a1b2c3d4e5f", bot="imp", run="gptrun", seq=3),
        Mark(symbol="X", price=3.0, id="legacy-7", bot="imp", run="other", seq=4),
    ]
    js = nc.jetstream()
    db = tmp_path / "store.duckdb"
    for life in range(2):
        store = await start_store(nats_server.url, db)
        for k, ev in enumerate(events):
            ev.ts = 1.7e9
            await js.publish(
                subjects.event("imp", type(ev).__name__.lower()),
                encode(ev),
                headers={"Nats-Msg-Id": f"{life}-{k}"},
            )
        await wait_until(store.caught_up)
        assert (store.service.stored, store.service.duplicates) == ((4, 0) if life == 0 else (0, 4))
        assert await store.stop() == 0
    store = await start_store(nats_server.url, db)
    assert sorted(str(r[0]) for r in store.rows("SELECT id FROM events")) == sorted(
        e.id for e in events
    )
    assert store.rows("SELECT count(*) FROM event_ids") == [(2,)]  # the two hashes
    await store.stop()
