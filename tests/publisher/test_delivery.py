"""Delivery guarantees against a real nats-server on loopback."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from nats.aio.client import Client

from tests.helpers import stream_ids
from tests.waiting import wait_until
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.publisher import Publisher, PublisherConfig
from tradewire.schemas import Mark, Subjects

pytestmark = pytest.mark.nats


def _config(url: str, tmp: Path, bot: str, **kw: object) -> PublisherConfig:
    # No lifecycle events: these tests count exactly the events they emit.
    settings: dict[str, object] = {"heartbeat_interval_s": 0, "lifecycle_events": False, **kw}
    return PublisherConfig(url=url, outbox_dir=tmp / bot, **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("fast_path", [True, False], ids=["framed", "publish"])
async def test_k_bots_n_events_stored_exactly_once(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path, fast_path: bool
) -> None:
    bots, per_bot = 4, 2500
    pubs = [
        await Publisher(
            f"bot-{k}", _config(nats_server.url, tmp_path, f"bot-{k}", fast_path=fast_path)
        ).start()
        for k in range(bots)
    ]
    emitted: set[str] = set()
    for i in range(per_bot):
        for pub in pubs:
            emitted.add(pub.mark(symbol="BTC-USD", price=100.0 + i).id)
        if i % 500 == 0:
            await asyncio.sleep(0)
    for pub in pubs:
        assert await pub.flush(30)
        stats = await pub.close()
        assert stats.acked == stats.emitted == per_bot
        assert stats.in_outbox == stats.dropped == 0
    stored = await stream_ids(nc, subjects)
    assert set(stored) == emitted
    assert max(stored.values()) == 1
    assert len(emitted) == bots * per_bot


async def test_server_down_at_start_then_up(tmp_path: Path, subjects: Subjects) -> None:
    from tests.conftest import need_external
    from tradewire.consumers.embedded import NatsServerNotFound, find_nats_server

    try:
        find_nats_server()
    except NatsServerNotFound as exc:
        need_external("nats-server", str(exc))
    server = EmbeddedNats()
    # Learn a port, then stop: the bot starts while nothing listens there.
    server.start()
    server.stop()
    try:
        pub = await Publisher(
            "bot-a", _config(server.url, tmp_path, "bot-a", max_memory_events=500)
        ).start()
        ids = {pub.mark(symbol="ETH-USD", price=float(i + 1)).id for i in range(3000)}
        await wait_until(lambda: pub.stats().in_outbox > 0, what="a spill to the outbox")
        stats = pub.stats()
        assert not stats.connected and stats.acked == 0
        assert stats.in_outbox > 0  # past the memory bound it spilled to disk
        server.start()
        import nats

        from tradewire.publisher import ensure_events_stream

        nc = await nats.connect(server.url)
        await ensure_events_stream(nc, subjects)
        assert await pub.flush(30)
        stats = await pub.close()
        assert stats.acked == 3000 and stats.in_outbox == 0
        stored = await stream_ids(nc, subjects)
        assert set(stored) == ids and max(stored.values()) == 1
        await nc.close()
    finally:
        server.close()


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
async def test_server_restart_mid_run(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path, kill: bool
) -> None:
    pub = await Publisher(
        "bot-r",
        _config(nats_server.url, tmp_path, "bot-r", ack_timeout_s=1.0, max_memory_events=2000),
    ).start()
    ids: set[str] = set()
    for phase in range(3):
        for i in range(2000):
            ids.add(pub.mark(symbol="SOL-USD", price=float(i + 1)).id)
            if i % 200 == 0:
                await asyncio.sleep(0.001)
        if phase == 0:
            nats_server.stop(kill=kill)
            await wait_until(lambda: not pub.stats().connected, what="the publisher to notice")
        elif phase == 1:
            nats_server.start()
    assert await pub.flush(60), pub.stats()
    stats = await pub.close()
    assert stats.acked == stats.emitted == 6000
    stored = await stream_ids(nc, subjects)
    assert set(stored) == ids
    assert max(stored.values()) == 1


# Audit events that mean I/O: the network, files, subprocesses.
_IO_EVENTS = ("socket.", "open", "os.", "subprocess.", "shutil.")
_in_emit = [False]
_io_in_emit: list[str] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _in_emit[0] and event.startswith(_IO_EVENTS):
        _io_in_emit.append(event)


sys.addaudithook(_audit)  # process-wide and permanent; inert unless _in_emit is set


async def test_emit_does_no_io_while_server_down(tmp_path: Path) -> None:
    """emit never waits on the network or the disk, whatever the broker's state: it only
    stamps and enqueues. Checked with audit hooks rather than a clock, which on a shared
    machine measures the neighbours."""
    # Nothing listens on this port: connection attempts fail in the background.
    pub = await Publisher(
        "bot-p", _config("nats://127.0.0.1:1", tmp_path, "bot-p", max_memory_events=1000)
    ).start()
    _io_in_emit.clear()
    for i in range(20_000):
        _in_emit[0] = True
        try:
            pub.emit(Mark(symbol="BTC-USD", price=float(i + 1)))
        finally:
            _in_emit[0] = False
        if i % 1000 == 0:
            await asyncio.sleep(0)  # the background task spills to disk and reconnects meanwhile
    assert _io_in_emit == []
    stats = await pub.close(timeout=0.5)
    assert stats.emitted == 20_000
    assert stats.in_outbox == 20_000 and stats.dropped == 0


async def test_close_with_server_down_leaves_outbox_for_next_start(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    url = nats_server.url
    nats_server.stop()
    pub = await Publisher("bot-c", _config(url, tmp_path, "bot-c")).start()
    ids = {pub.mark(symbol="BTC-USD", price=float(i + 1)).id for i in range(700)}
    stats = await pub.close(timeout=0.2)
    assert stats.in_outbox == 700 and stats.acked == 0
    assert list((tmp_path / "bot-c").glob("*.seg"))
    nats_server.start()
    again = await Publisher("bot-c", _config(url, tmp_path, "bot-c")).start()
    assert again.run != pub.run
    again.mark(symbol="BTC-USD", price=1.0)
    assert await again.flush(30)
    stats = await again.close()
    assert stats.acked == 701 and stats.in_outbox == 0
    assert not list((tmp_path / "bot-c").glob("*.seg"))
    stored = await stream_ids(nc, subjects)
    assert ids <= set(stored) and len(stored) == 701 and max(stored.values()) == 1


async def test_invalid_events_are_rejected_and_counted(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    pub = await Publisher("bot-v", _config(nats_server.url, tmp_path, "bot-v")).start()
    good = pub.mark(symbol="BTC-USD", price=1.0)
    pub.mark(symbol="BTC-USD", price=float("nan"))
    pub.mark(symbol="BTC-USD", price=-1.0)
    assert await pub.flush(10)
    stats = await pub.close()
    assert stats.rejected == 2 and stats.acked == 1
    assert "$.price" in stats.last_error
    assert set(await stream_ids(nc, subjects)) == {good.id}


async def test_no_stream_is_retried_until_it_exists(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    import nats

    from tradewire.publisher import ensure_events_stream

    pub = await Publisher("bot-s", _config(nats_server.url, tmp_path, "bot-s")).start()
    ids = {pub.mark(symbol="BTC-USD", price=float(i + 1)).id for i in range(50)}
    await wait_until(lambda: "JetStream refused" in pub.stats().last_error)
    assert pub.stats().acked == 0
    client = await nats.connect(nats_server.url)
    await ensure_events_stream(client, Subjects())
    assert await pub.flush(30)
    await pub.close()
    assert set(await stream_ids(client, Subjects())) == ids
    await client.close()


async def test_full_stream_pushes_back_then_delivers_everything(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    import nats

    from tradewire.publisher import StreamLimits, apply_stream_limits, ensure_events_stream

    subjects = Subjects("full")
    client = await nats.connect(nats_server.url)
    await ensure_events_stream(client, subjects)
    await apply_stream_limits(client, subjects, StreamLimits(max_bytes=20_000), allow_shrink=True)
    pub = await Publisher(
        "bot-f", _config(nats_server.url, tmp_path, "bot-f", root="full", ack_timeout_s=1.0)
    ).start()
    ids = {pub.mark(symbol="BTC-USD", price=float(i + 1)).id for i in range(500)}
    await wait_until(lambda: "maximum bytes" in pub.stats().last_error.lower())
    stats = pub.stats()
    assert 0 < stats.acked < 500  # DiscardNew: the server refuses, nothing old is deleted
    assert "maximum bytes" in stats.last_error.lower()
    # The operator makes room.
    await apply_stream_limits(client, subjects, StreamLimits(max_bytes=10 << 20))
    assert await pub.flush(30), pub.stats()
    await pub.close()
    stored = await stream_ids(client, subjects)
    assert set(stored) == ids and max(stored.values()) == 1
    await client.close()


async def test_outbox_size_cap_drops_counts_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pub = await Publisher(
        "bot-d",
        _config(
            "nats://127.0.0.1:1", tmp_path, "bot-d", max_memory_events=0, max_outbox_bytes=20_000
        ),
    ).start()
    for i in range(300):
        pub.mark(symbol="BTC-USD", price=float(i + 1))
    stats = await pub.close(timeout=0.2)
    assert stats.dropped > 0 and stats.in_outbox > 0
    assert stats.in_outbox + stats.dropped == 300
    assert any("dropped" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    assert sum(p.stat().st_size for p in (tmp_path / "bot-d").glob("*.seg")) <= 20_000


async def test_a_programming_error_is_not_retried_as_a_network_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """nats-py 2.15 raises TypeError for an option we pass (skip_subject_validation): the
    publisher must say so once, not log "cannot connect" forever; events stay safe."""
    import nats

    calls = []

    async def incompatible_connect(*args: object, **kwargs: object) -> None:
        calls.append(kwargs)
        raise TypeError("connect() got an unexpected keyword argument 'skip_subject_validation'")

    monkeypatch.setattr(nats, "connect", incompatible_connect)
    pub = await Publisher("bot-t", _config("nats://127.0.0.1:4222", tmp_path, "bot-t")).start()
    for i in range(10):
        pub.mark(symbol="BTC-USD", price=float(i + 1))
    await wait_until(lambda: "not a network error" in pub.stats().last_error)
    stats = await pub.close(timeout=0.2)
    assert len(calls) == 1  # not retried
    assert stats.in_outbox == 10 and stats.dropped == 0
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "TypeError" in errors[0].getMessage()
    assert not any("cannot connect" in r.getMessage() for r in caplog.records)
