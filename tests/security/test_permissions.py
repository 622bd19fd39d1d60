"""The generated permissions, enforced by a real nats-server: each identity can do its job
and nothing more (issue 12)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import msgspec
import nats.errors
import pytest
from nats.aio.client import Client

from tests.security.conftest import (
    Clients,
    assert_connect_refused,
    auth_of,
    bot_publisher,
    nats_with,
    store_config,
)
from tests.waiting import wait_until
from tradewire.consumers.auth import AuthDir
from tradewire.consumers.cli import main
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.consumers.store import StoreService
from tradewire.publisher import NatsAuth, Publisher
from tradewire.schemas import Mark, Subjects, encode

pytestmark = pytest.mark.nats
SUBJECTS = Subjects()


def _mark(bot: str, seq: int = 1) -> Mark:
    return Mark(
        symbol="BTC-USD", price=1.0, id=f"{bot}-m{seq}", bot=bot, run="r", seq=seq, ts=1.7e9
    )


async def _refused(client: Client, errors: list[str], what: str) -> None:
    """Wait for the server's permissions violation about ``what``."""
    await client.flush()
    await wait_until(
        lambda: any("permissions violation" in e and what.lower() in e for e in errors),
        timeout=10,
        what=f"a permissions violation for {what}",
    )


async def test_a_bot_publishes_its_own_events(
    secure_store: StoreService, fleet: AuthDir, secure_nats: EmbeddedNats, tmp_path: Path
) -> None:
    async with bot_publisher(secure_nats, fleet, "bot-a", tmp_path / "outbox") as tel:
        for i in range(5):
            tel.mark(symbol="BTC-USD", price=100.0 + i)
        assert await tel.flush(20)
    stats = tel.stats()
    assert stats.acked == stats.emitted == 7  # lifecycle started + 5 marks + stopped
    await wait_until(lambda: secure_store.stored == 7, what="the store has the bot's events")


async def test_publishing_as_another_bot_is_refused_counted_and_not_kept(
    secure_store: StoreService,
    fleet: AuthDir,
    secure_nats: EmbeddedNats,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """bot-a's key publishing as bot-b: the server refuses; the publisher counts each
    event as refused, logs once per subject, does not retry, and keeps none on disk."""
    caplog.set_level(logging.ERROR, "tradewire.publisher")
    outbox = tmp_path / "outbox"
    tel = bot_publisher(secure_nats, fleet, "bot-b", outbox, key="bot-a", lifecycle_events=False)
    await tel.start()
    for i in range(20):
        tel.mark(symbol="BTC-USD", price=100.0 + i)
    await wait_until(lambda: tel.stats().refused == 20, timeout=20, what="20 refused")
    stats = await tel.close()
    assert (stats.acked, stats.in_outbox, stats.buffered) == (0, 0, 0)
    assert "permissions violation" in stats.last_error
    assert stats.retries == 0
    refusals = [r for r in caplog.records if "refused publishing" in r.getMessage()]
    assert len(refusals) == 1 and "tradewire.evt.bot-b.mark" in refusals[0].getMessage()
    # A restart replays nothing: the refused events were never written to the outbox.
    again = Publisher("bot-b", url=secure_nats.url, auth=auth_of(fleet, "bot-a"), outbox_dir=outbox)
    assert again.stats().in_outbox == 0
    assert secure_store.stored == 0


async def test_a_bot_reads_nothing_and_cannot_silence(
    secure_store: StoreService, clients: Clients
) -> None:
    bot = await clients.connect("bot-a")
    errors = clients.errors["bot-a"]
    await bot.subscribe(SUBJECTS.event("bot-b", "*"))
    await _refused(bot, errors, 'subscription to "tradewire.evt.bot-b.*"')
    await bot.subscribe(SUBJECTS.sql)  # to read (or answer) other people's queries
    await _refused(bot, errors, f'subscription to "{SUBJECTS.sql}"')
    with pytest.raises(nats.errors.TimeoutError):  # refused: nobody answers
        await bot.request(SUBJECTS.sql, b'{"sql": "SELECT 1"}', timeout=1)
    await _refused(bot, errors, f'publish to "{SUBJECTS.sql}"')
    silence_key = f"$KV.{SUBJECTS.alerts_bucket}.silence.0123456789ab"
    await bot.publish(silence_key, b"{}")
    await _refused(bot, errors, f'publish to "{silence_key}"')
    with pytest.raises(nats.errors.TimeoutError):  # no JetStream API at all
        await bot.jetstream(timeout=1).stream_info(SUBJECTS.events_stream)


async def test_a_query_sent_with_a_key_that_may_not_ask_ends_at_once_saying_so(
    secure_store: StoreService,
    secure_nats: EmbeddedNats,
    fleet: AuthDir,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The server refuses the publish at once; the CLI says so, not "the store did not
    answer" after waiting out its timeout."""
    seed = str(fleet.seed_path(fleet.find("bot-a")))
    argv = ["sql", "SELECT 1", "--timeout", "1", "--nats-url", secure_nats.url]
    assert await asyncio.to_thread(main, [*argv, "--nats-nkey-seed", seed]) == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("tradewire sql: NATS refused (as U"), last
    assert f'permissions violation for publish to "{SUBJECTS.sql}"' in last


async def test_the_store_cannot_publish_events(
    secure_store: StoreService, clients: Clients
) -> None:
    store = await clients.connect("store")
    subject = SUBJECTS.event("bot-a", "mark")
    await store.publish(subject, encode(_mark("bot-a")))
    await _refused(store, clients.errors["store"], f'publish to "{subject}"')
    assert secure_store.stored == 0


async def test_metrics_cannot_pull_from_the_stores_consumer(
    secure_store: StoreService, clients: Clients
) -> None:
    """Pulling (and acking) from another service's durable would take its messages."""
    metrics = await clients.connect("metrics")
    subject = f"$JS.API.CONSUMER.MSG.NEXT.{SUBJECTS.events_stream}.{secure_store.config.durable}"
    await metrics.publish(subject, b'{"batch": 1}', reply=metrics.new_inbox())
    await _refused(metrics, clients.errors["metrics"], f'publish to "{subject}"')


async def test_a_revoked_bot_is_refused_after_a_reload(
    secure_store: StoreService,
    fleet: AuthDir,
    secure_nats: EmbeddedNats,
    clients: Clients,
    tmp_path: Path,
) -> None:
    seed = auth_of(fleet, "bot-b")
    kept = tmp_path / "kept.nk"  # the bot (or a thief) still has its copy of the seed
    kept.write_bytes(Path(seed.nkey_seed).read_bytes())
    before = await clients.connect("bot-b")
    ack = await before.request(SUBJECTS.event("bot-b", "mark"), encode(_mark("bot-b")), timeout=5)
    assert b'"seq":1' in ack.data
    assert main(["auth", "revoke", "bot-b", "--dir", str(fleet.path)]) == 0
    assert not Path(seed.nkey_seed).exists()  # the secret is gone too
    # Until the server reloads, the old key still works; after it, it does not.
    await before.flush()
    await asyncio.to_thread(secure_nats.reload)
    await wait_until(lambda: before.is_closed or not before.is_connected, timeout=10)
    await assert_connect_refused(secure_nats.url, NatsAuth(nkey_seed=str(kept)))
    # bot-a, not revoked, goes on.
    bot_a = await clients.connect("bot-a")
    ack = await bot_a.request(SUBJECTS.event("bot-a", "mark"), encode(_mark("bot-a")), timeout=5)
    assert b'"seq":2' in ack.data


async def test_consumers_still_quarantine_a_bot_mismatch_under_auth(
    secure_store: StoreService, clients: Clients
) -> None:
    """Defence in depth: bot-a may publish on its subject, but an event claiming to be
    bot-b's is quarantined, not stored as bot-b's."""
    bot = await clients.connect("bot-a")
    ack = await bot.request(SUBJECTS.event("bot-a", "mark"), encode(_mark("bot-b")), timeout=5)
    assert msgspec.json.decode(ack.data)["stream"] == SUBJECTS.events_stream
    await wait_until(lambda: secure_store.quarantined["bot_mismatch"] == 1)
    assert secure_store.stored == 0


async def test_partitioned_instances_run_with_their_services_keys(
    fleet: AuthDir, tmp_path: Path
) -> None:
    """docs/scaling.md under auth: after `auth instances store=2 metrics=2`, each instance
    creates and pulls from its own partitions' durables and history consumers (their
    names are in the generated permissions), and not from another instance's."""
    assert main(["auth", "instances", "store=2", "metrics=2", "--stream-partitions", "4",
                 "--dir", str(fleet.path)]) == 0  # fmt: skip
    for i in range(2):
        (tmp_path / f"s{i}").mkdir()
    with nats_with(fleet.include_path) as server:
        stores = [
            StoreService(
                store_config(
                    server,
                    fleet,
                    tmp_path / f"s{i}",
                    partition=i,
                    partitions=2,
                    stream_partitions=4,
                )
            )
            for i in range(2)
        ]
        tasks = [await s.start(20) for s in stores]
        metrics = MetricsService(
            MetricsConfig(
                nats_url=server.url,
                http_port=0,
                partition=1,
                partitions=2,
                nats_nkey_seed=str(fleet.seed_path(fleet.find("metrics"))),
            )
        )
        tasks.append(await metrics.start(20))
        try:
            clients = Clients(server, fleet)
            for bot in ("bot-a", "bot-b"):
                client = await clients.connect(bot)
                for seq in (1, 2, 3):
                    ack = await client.request(
                        SUBJECTS.event(bot, "mark"), encode(_mark(bot, seq)), timeout=5
                    )
                    assert b'"stream"' in ack.data, ack.data
            await wait_until(lambda: sum(s.stored for s in stores) == 6)
            owners = {s.partition.index: s.stored for s in stores}
            assert sorted(owners.values()) in ([0, 6], [3, 3])  # each bot in one store
            # The metrics instance may not pull from store instance 0's partition.
            other = stores[0].consumers[0].settings.durable
            spy = await clients.connect("metrics")
            subject = f"$JS.API.CONSUMER.MSG.NEXT.{SUBJECTS.events_stream}.{other}"
            await spy.publish(subject, b'{"batch": 1}', reply=spy.new_inbox())
            await _refused(spy, clients.errors["metrics"], f'publish to "{subject}"')
            await clients.close()
        finally:
            for s in [*stores, metrics]:
                s.stop()
            assert [await t for t in tasks] == [0, 0, 0]
