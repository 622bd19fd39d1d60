"""Reading a slice of the events stream at a service's start (``read_history``): every
valid event once and in order, invalid ones skipped, the reading consumer gone after.

The alerts service replays its longest window (5 minutes of the fleet) this way at each
start; the soak (benchmarks/soak.py) found it took 90 s with nats-py's ``fetch()`` under
a 200-bot fleet, so it now runs on the services' own pull: these tests hold its results
to what the fetch loop gave."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from nats.aio.client import Client

from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.runtime import read_history
from tradewire.publisher import Publisher
from tradewire.schemas import Event, Mark, Subjects

pytestmark = pytest.mark.nats

PER_BOT = 6_000  # more than one pull request (1,000) and one batch (5,000)


async def publish_marks(url: str, tmp_path: Path, bots: list[str], n: int) -> None:
    for bot in bots:
        async with Publisher(
            bot,
            url=url,
            outbox_dir=tmp_path / bot,
            heartbeat_interval_s=0,
            lifecycle_events=False,
        ) as tel:
            for i in range(n):
                tel.mark(symbol="BTC-USD" if i % 2 else "ETH-USD", price=float(i + 1))
            assert await tel.flush(30)


async def consumers(nc: Client, subjects: Subjects) -> list[str]:
    return [c.name for c in await nc.jetstream().consumers_info(subjects.events_stream)]


async def test_a_slice_comes_whole_in_order_and_invalid_messages_are_skipped(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    url = nats_server.url
    await publish_marks(url, tmp_path, ["old"], 3)
    since = time.time()
    await publish_marks(url, tmp_path, ["h1", "h2"], PER_BOT)
    await nc.jetstream().publish(subjects.event("h1", "mark"), b"{not json")
    got: list[Event] = []
    n = await read_history(nc, subjects, got.append, since=since, name="t-history")
    assert n == len(got) == 2 * PER_BOT
    for bot in ("h1", "h2"):
        seqs = [e.seq for e in got if e.bot == bot]
        assert seqs == list(range(1, PER_BOT + 1))  # each once, in order
    assert all(isinstance(e, Mark) for e in got)
    assert "t-history" not in await consumers(nc, subjects)


async def test_last_per_subject_and_an_empty_slice(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    url = nats_server.url
    await publish_marks(url, tmp_path, ["b1", "b2"], 5)
    got: list[Event] = []
    assert await read_history(nc, subjects, got.append) == 2  # one subject per bot
    assert sorted((e.bot, e.seq) for e in got) == [("b1", 5), ("b2", 5)]
    later: list[Event] = []
    assert await read_history(nc, subjects, later.append, since=time.time() + 60) == 0
    assert later == [] and await consumers(nc, subjects) == []
