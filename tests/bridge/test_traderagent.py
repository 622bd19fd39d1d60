"""``bridge traderagent`` against a real redis-server: TRADERAGENT's messages become events,
and what Redis pub/sub loses (a reconnect window, a fill without its placement) is counted."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from tests.conftest import RunningStore, need_external
from tests.waiting import wait_until, wait_until_sync
from tradewire.consumers.bridge import BridgeStats, TraderAgentMapper, run_traderagent_bridge
from tradewire.schemas import Fill, Lifecycle, Order


class RedisServer:
    def __init__(self, port: int, workdir: Path) -> None:
        self.port, self.workdir = port, workdir
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until_sync(self._accepts, timeout=20, what="redis-server to listen")
        return self

    def _accepts(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        need_external("redis-server", "install Debian's redis-server package")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = RedisServer(port, tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def event(etype: str, bot: str, data: dict[str, Any], ts: str) -> str:
    """Exactly what TRADERAGENT's TradingEvent.to_json() publishes."""
    return json.dumps({"event_type": etype, "bot_name": bot, "timestamp": ts, "data": data})


T = "2026-11-20T10:00:0{}.000000+00:00"
DAY: list[tuple[str, dict[str, Any]]] = [
    ("bot_started", {"strategy": "grid", "version": "2.0"}),
    ("order_placed", {"order_id": "g1", "side": "buy", "price": "64000", "amount": "0.01"}),
    ("order_filled", {"order_id": "g1", "price": "64000", "side": "buy"}),
    ("order_filled", {"order_id": "g0", "price": "63900", "side": "sell"}),  # never placed
    ("order_failed", {"error": "insufficient", "order": "GridOrder(side='sell', price="
                      "Decimal('65000'), amount=Decimal('0.02'))"}),
    ("price_updated", {"price": "64010.5"}),
    ("regime_changed", {"old_regime": "ranging", "new_regime": "trending_up",
                        "confidence": 0.8, "recommended_strategy": "trend_follower"}),
    ("health_degraded", {"strategy_id": "grid-1", "status": "degraded", "message": "slow"}),
    ("health_critical", {"strategy_id": "grid-1", "status": "critical", "message": "down"}),
    ("bot_started", {"strategy": "grid", "version": "2.0"}),  # its stop was never seen
    ("bot_emergency_stop", {"reason": "manual_emergency_stop"}),
    ("dca_triggered", {"price": "1", "step": 1}),  # not mapped: counted
]  # fmt: skip


def test_mapping_without_redis() -> None:
    mapper = TraderAgentMapper({"grid btc": "BTC/USDT"})
    out = [mapper.map(json.loads(event(t, "grid btc", d, T.format(1)))) for t, d in DAY]
    assert {bot for bot, _ in out} == {"grid-btc"}  # the space is not allowed in a bot id
    placed, filled = out[1][1][0], out[2][1]
    assert isinstance(placed, Order) and (placed.status, placed.qty, placed.symbol) == (
        "accepted",
        0.01,
        "BTC/USDT",
    )
    assert [type(e) for e in filled] == [Order, Fill]
    assert isinstance(filled[1], Fill) and (filled[1].qty, filled[1].price) == (0.01, 64000)
    failed = out[4][1][0]
    assert isinstance(failed, Order) and (failed.status, failed.side, failed.qty) == (
        "failed",
        "sell",
        0.02,
    )
    assert mapper.bots["grid-btc"].losses == {"fill_without_placement": 1, "start_without_stop": 1}
    assert mapper.not_mapped == {"dca_triggered": 1}
    stop = out[10][1][0]
    assert isinstance(stop, Lifecycle) and stop.state == "emergency_stop"
    assert out[0][1][0].ts == 1795168801.0


@pytest.mark.nats
async def test_bridge_end_to_end_with_a_redis_outage(
    redis_server: RedisServer, store: RunningStore, tmp_path: Path
) -> None:
    stop = asyncio.Event()
    subscribed = asyncio.Event()

    def on_subscribed(stats: BridgeStats) -> None:
        subscribed.set()

    task = asyncio.create_task(
        run_traderagent_bridge(
            redis_server.url,
            store.service.config.nats_url,
            stop=stop,
            outbox_root=tmp_path / "outbox",
            symbols={"grid-btc": "BTC/USDT"},
            on_subscribed=on_subscribed,
        )
    )
    client = redis.from_url(redis_server.url)
    try:
        await asyncio.wait_for(subscribed.wait(), 20)
        for n, (etype, data) in enumerate(DAY):
            await client.publish(
                "trading_events:grid btc", event(etype, "grid btc", data, T.format(n % 10))
            )
        await client.publish("trading_events:grid btc", "not json")
        await store.wait_for("SELECT count(*) FROM lifecycle_events WHERE bot = 'grid-btc'", 3)
        await store.wait_for("SELECT count(*) FROM health_events", 2)
        assert store.rows("SELECT status, qty FROM orders ORDER BY ts, status") == [
            ("accepted", 0.01), ("filled", 0.01), ("filled", 0.0), ("failed", 0.02),
        ]  # fmt: skip
        assert store.rows("SELECT symbol, price FROM marks") == [("BTC/USDT", 64010.5)]
        regime = (
            "SELECT labels['regime'], value FROM custom_metrics WHERE name = 'regime_confidence'"
        )
        assert store.rows(regime) == [("trending_up", 0.8)]

        # Redis goes away and comes back: the window is reported to the bots it knew.
        subscribed.clear()
        await client.aclose()
        redis_server.stop()
        redis_server.start()
        await asyncio.wait_for(subscribed.wait(), 30)
        client = redis.from_url(redis_server.url)
        await client.publish(
            "trading_events:grid btc", event("bot_stopped", "grid btc", {}, T.format(9))
        )
        await store.wait_for("SELECT count(*) FROM lifecycle_events WHERE bot = 'grid-btc'", 4)
        losses = (
            "SELECT labels['what'], count(*) FROM custom_metrics"
            " WHERE name = 'bridge_detected_loss' GROUP BY 1 ORDER BY 1"
        )
        await wait_until(lambda: len(store.rows(losses)) == 3, what="three kinds of detected loss")
        assert store.rows(losses) == [
            ("fill_without_placement", 1), ("reconnect_window", 1), ("start_without_stop", 1),
        ]  # fmt: skip
    finally:
        stop.set()
        stats = await asyncio.wait_for(task, 30)
        await client.aclose()
    assert (stats.messages, stats.undecodable, stats.reconnects) == (len(DAY) + 2, 1, 1)
    assert stats.losses == {
        "grid-btc": {"fill_without_placement": 1, "start_without_stop": 1, "reconnect_window": 1}
    }
