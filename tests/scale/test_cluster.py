"""The pipeline on a 3-node JetStream cluster with R3 streams and buckets: the stream
leader is SIGKILLed mid-stream and restarted, then another node is killed; nothing acked
is lost or stored twice, and alerts still evaluate."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from tests.conftest import need_external
from tests.scale import DRAWDOWN_RULES as RULES
from tests.scale.cluster import NatsCluster
from tests.waiting import wait_until
from tradewire.consumers.alerts import AlertsConfig, AlertsService
from tradewire.consumers.embedded import NatsServerNotFound, find_nats_server
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.consumers.runtime import ConsumerService
from tradewire.consumers.store import StoreConfig, StoreService
from tradewire.publisher import Publisher
from tradewire.schemas import Subjects

pytestmark = [pytest.mark.nats, pytest.mark.slow]

SUBJECTS = Subjects()
BOTS = ("bot-a", "bot-b", "bot-c")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    try:
        find_nats_server()
    except NatsServerNotFound as exc:
        need_external("nats-server", str(exc))
    c = NatsCluster(tmp_path / "cluster").start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
async def admin(cluster: NatsCluster) -> AsyncIterator[Client]:
    nc = await cluster.client()
    await cluster.wait_jetstream(nc)
    yield nc
    await nc.close()


async def leader(nc: Client, stream: str) -> str:
    """The node leading ``stream`` now ("" while there is none)."""
    with contextlib.suppress(Exception):
        info = await nc.jetstream(timeout=1.0).stream_info(stream)
        if info.cluster is not None:
            return info.cluster.leader or ""
    return ""


async def all_current(nc: Client, stream: str) -> bool:
    """A leader, and every other copy caught up with it."""
    with contextlib.suppress(Exception):
        c = (await nc.jetstream(timeout=1.0).stream_info(stream)).cluster
        peers = c.replicas or [] if c else []
        return bool(c and c.leader and len(peers) == 2 and all(p.current for p in peers))
    return False


async def test_leader_killed_restarted_then_another_node_killed(
    cluster: NatsCluster, admin: Client, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    store = StoreService(
        StoreConfig(
            nats_url=cluster.url,
            db=str(tmp_path / "fleet.duckdb"),
            http_port=0,
            max_wait_s=0.1,
            ack_wait_s=3.0,
            stream_replicas=3,
        )
    )
    metrics = MetricsService(MetricsConfig(nats_url=cluster.url, http_port=0, ack_wait_s=3.0))
    alerts = AlertsService(
        AlertsConfig(
            nats_url=cluster.url, http_port=0, rules=str(rules), tick_s=0.1, ack_wait_s=3.0
        )
    )
    tasks = [await s.start(30) for s in (store, metrics, alerts)]
    js = admin.jetstream()
    for stream in (SUBJECTS.events_stream, SUBJECTS.alerts_stream, f"KV_{SUBJECTS.alerts_bucket}"):
        assert (await js.stream_info(stream)).config.num_replicas == 3, stream

    def stored() -> int:
        (n,) = store_rows("SELECT count(*) FROM events")[0]
        return int(n)

    def store_rows(sql: str) -> list[tuple[Any, ...]]:
        assert store.writer is not None
        cur = store.writer.con.cursor()
        try:
            return cur.execute(sql).fetchall()
        finally:
            cur.close()

    # One publisher per bot, given the cluster as a list of URLs. A publish the dead
    # leader took without answering is sent again after ack_timeout_s (same id).
    pubs = [
        Publisher(
            bot,
            url=cluster.urls,
            outbox_dir=tmp_path / bot,
            heartbeat_interval_s=0,
            ack_timeout_s=1.0,
        )
        for bot in BOTS
    ]
    for p in pubs:
        await p.start()
    emitting = True

    async def emit() -> None:
        price = 100.0
        while emitting:
            price += 0.01
            for p in pubs:
                p.mark(symbol="BTC-USD", price=price)
            await asyncio.sleep(0.005)  # the load's pace, not a wait for a condition

    emitter = asyncio.create_task(emit())
    try:
        await wait_until(lambda: stored() > 300, what="events stored before the faults")

        # 1. SIGKILL the events stream's leader mid-stream; a new one takes over.
        first = await leader(admin, SUBJECTS.events_stream)
        cluster.kill(cluster.index(first))
        await wait_until(
            lambda: leader(admin, SUBJECTS.events_stream),
            what="a new stream leader",
        )
        mark = stored()
        await wait_until(lambda: stored() > mark + 300, what="events stored without the leader")

        # 2. Restart it; it catches up.
        cluster.restart(cluster.index(first))
        await wait_until(lambda: all_current(admin, SUBJECTS.events_stream), what="3 copies")

        # 3. Kill another node (the leader now, unless that is the first one again).
        now = await leader(admin, SUBJECTS.events_stream)
        second = now if now != first else next(f"n{i}" for i in range(3) if f"n{i}" != first)
        cluster.kill(cluster.index(second))
        mark = stored()
        await wait_until(lambda: stored() > mark + 300, what="events stored after the 2nd kill")
    finally:
        emitting = False
        await emitter

    # Alerts still evaluate, publish and get stored: a drawdown past 10 fires.
    pubs[0].risk(drawdown_pct=12.0)
    await wait_until(
        lambda: store_rows("SELECT count(*) FROM alerts WHERE rule = 'Drawdown'")[0][0] == 1,
        what="the Drawdown alert stored",
    )
    stats = [await p.close(30) for p in pubs]
    for s in stats:
        assert s.acked == s.emitted and s.dropped == s.in_outbox == s.buffered == 0, s
    emitted = sum(s.emitted for s in stats)

    # Exactly once: every acked event stored, none twice, no gap in any run's seq.
    await wait_until(lambda: stored() == emitted, what=f"{emitted} events stored")
    assert store_rows("SELECT count(*), count(DISTINCT id) FROM events") == [(emitted, emitted)]
    assert store_rows("SELECT count(*) FROM seq_gaps") == [(0,)]
    runs = store_rows("SELECT bot, count(*), max(seq) FROM events GROUP BY ALL ORDER BY bot")
    assert [r[0] for r in runs] == list(BOTS)
    assert all(n == top for _, n, top in runs)
    assert sum(n for _, n, _ in runs) == emitted
    # Every service rode out both kills and is ready again.
    services: list[ConsumerService] = [store, metrics, alerts]
    for service in services:
        await wait_until(lambda s=service: s.health.ready, what=f"{service.name} ready")  # type: ignore[misc]
    assert metrics.consumer is not None and metrics.consumer.handled >= emitted
    for service, task in zip(services, tasks, strict=True):
        service.stop()
        assert await asyncio.wait_for(task, 20) == 0
