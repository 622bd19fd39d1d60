"""A scrape does not hold the event loop: values are copied there, formatted elsewhere."""

from __future__ import annotations

import asyncio
import gzip
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from tests.waiting import wait_until
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.consumers.metrics._exposition import Exposition
from tradewire.consumers.metrics._exposition import Frozen as FleetFrozen
from tradewire.consumers.runtime import Family, Frozen, Registry, accepts_gzip, exposition
from tradewire.schemas import Heartbeat, Subjects, encode


def test_a_snapshot_is_what_was_there_when_it_was_taken() -> None:
    r = Registry("t")
    c = r.add(Family("hits_total", "counter", ("bot",), "Hits", "test"))
    h = r.add(Family("wait_seconds", "histogram", (), "Waits", "test", buckets=(1.0,)))
    c.inc(("a",))
    h.observe((), 0.5)
    frozen = r.snapshot(0.0)
    c.inc(("a",))
    c.inc(("b",))  # a new series, while the copy is being formatted elsewhere
    h.observe((), 2.0)
    text = exposition(frozen)
    assert 't_hits_total{bot="a"} 1.0' in text and 'bot="b"' not in text
    assert 't_wait_seconds_bucket{le="+Inf"} 1' in text and "t_wait_seconds_count 1" in text
    assert 't_hits_total{bot="a"} 2.0' in r.render(0.0)
    assert all(isinstance(f, Frozen) for f in frozen)


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("*", True),
        ("GZIP", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("", False),
    ],
)
def test_accept_encoding(header: str, ok: bool) -> None:
    assert accepts_gzip(header) is ok


@pytest.mark.nats
async def test_acks_flow_while_a_scrape_is_being_formatted(
    nats_server: EmbeddedNats,
    nc: Client,
    subjects: Subjects,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The formatting is held until events published meanwhile are aggregated and acked:
    on the event loop it would hold the loop too, and this would never finish."""
    formatting, finish = threading.Event(), threading.Event()
    write = Exposition.write

    def slow_write(self: Exposition, frozen: FleetFrozen, **kw: Any) -> str:
        formatting.set()
        finish.wait(30)
        return write(self, frozen, **kw)

    monkeypatch.setattr(Exposition, "write", slow_write)
    svc = MetricsService(MetricsConfig(nats_url=nats_server.url, http_port=0))
    task = await svc.start(20)
    assert svc.http is not None and svc.consumer is not None
    consumer = svc.consumer

    def get_metrics() -> str:
        req = urllib.request.Request(
            f"http://127.0.0.1:{svc.http.port}/metrics",  # type: ignore[union-attr]
            headers={"Accept-Encoding": "gzip"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return gzip.decompress(r.read()).decode()

    async def acked() -> bool:
        info = await nc.jetstream().consumer_info(subjects.events_stream, svc.config.durable)
        return bool(info.num_ack_pending == 0 and info.num_pending == 0)

    scrape = asyncio.create_task(asyncio.to_thread(get_metrics))
    try:
        await wait_until(formatting.is_set, what="a scrape being formatted")
        n = 20
        for i in range(n):
            ev = Heartbeat(uptime_s=1.0, id=f"r-{i}", bot="b1", run="r", seq=i + 1, ts=1.7e9)
            await nc.jetstream().publish(subjects.event("b1", "heartbeat"), encode(ev))
        await wait_until(lambda: consumer.handled == n, what="events handled during the scrape")
        await wait_until(acked, what="and acked")
        assert not scrape.done()
    finally:
        finish.set()
    text = await scrape
    assert "tradewire_pipeline_ready 1.0" in text
    svc.stop()
    assert await task == 0
