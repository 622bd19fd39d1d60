"""The metrics service against a real nats-server: promtool, endpoints, restart semantics."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client

from tests.conftest import need_external
from tests.waiting import wait_until
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.consumers.simulate import SimulationConfig, run_simulation
from tradewire.publisher import Publisher
from tradewire.schemas import Account, Subjects, encode

pytestmark = pytest.mark.nats


async def start(url: str, **kw: object) -> tuple[MetricsService, asyncio.Task[int]]:
    service = MetricsService(MetricsConfig(nats_url=url, http_port=0, **kw))  # type: ignore[arg-type]
    return service, await service.start(20)


@pytest.fixture
async def metrics(nats_server: EmbeddedNats) -> AsyncIterator[MetricsService]:
    service, task = await start(nats_server.url)
    yield service
    service.stop()
    await task


def get(service: MetricsService, path: str, accept: str = "") -> tuple[int, str, bytes]:
    assert service.http is not None
    req = urllib.request.Request(
        f"http://127.0.0.1:{service.http.port}{path}", headers={"Accept": accept} if accept else {}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


async def test_promtool_accepts_a_simulated_runs_output(
    metrics: MetricsService, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        need_external("promtool", "install Debian's prometheus package")
    assert promtool is not None
    config = SimulationConfig(bots=3, rate=400, duration=1.5, seed=3)
    result = await run_simulation(nats_server.url, config, tmp_path)
    await wait_until(
        lambda: sum(metrics.agg.families["pipeline_events_total"].values.values()) >= result.emitted
    )
    code, ctype, body = await asyncio.to_thread(get, metrics, "/metrics")
    assert code == 200 and ctype.startswith("text/plain; version=0.0.4")
    check = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert sum(metrics.agg.families["pipeline_events_total"].values.values()) == result.emitted
    code, ctype, body = await asyncio.to_thread(
        get, metrics, "/metrics", "application/openmetrics-text; version=1.0.0"
    )
    assert ctype.startswith("application/openmetrics-text") and body.endswith(b"# EOF\n")


async def test_metrics_json_has_latest_order_and_account(
    metrics: MetricsService, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    async with Publisher(
        "j1", url=nats_server.url, outbox_dir=tmp_path, heartbeat_interval_s=0
    ) as tel:
        tel.order(symbol="BTC-USD", side="buy", status="filled", qty=1.0, order_id="o9")
        tel.account(equity=123.0)
        assert await tel.flush(10)
    await wait_until(lambda: "j1" in metrics.agg.latest_account)
    code, _, body = await asyncio.to_thread(get, metrics, "/metrics.json")
    data = json.loads(body)
    assert data["bots"]["j1"]["latest_order_preview"]["order_id"] == "o9"
    assert data["bots"]["j1"]["latest_account_snapshot"]["equity"] == 123.0
    equity = data["metrics"]["tradewire_equity_dollars"]
    assert {"labels": {"bot": "j1"}, "value": 123.0} in equity
    code, _, body = await asyncio.to_thread(get, metrics, "/health")
    health = json.loads(body)
    assert code == 200 and health["signals"]["status"] in ("OK", "UNKNOWN", "WARN")
    assert {s["name"] for s in health["signals"]["signals"]} == {
        "order_error_rate",
        "order_retry_rate",
        "broker_latency_p95",
        "guard_trip_count",
    }


async def test_restart_neither_replays_nor_double_counts_and_seeds_gauges(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    js = nc.jetstream()

    async def account(i: int, equity: float) -> None:
        ev = Account(equity=equity, id=f"a-{i}", bot="r1", run="a", seq=i, ts=1.7e9 + i)
        await js.publish(
            subjects.event("r1", "account"), encode(ev), headers={"Nats-Msg-Id": ev.id}
        )

    await account(1, 100.0)  # history before the service ever ran
    service, task = await start(nats_server.url)
    assert service.seeded == 1
    assert service.agg.families["equity_dollars"].values == {("r1",): 100.0}  # gauge seeded
    assert service.agg.families["pipeline_events_total"].values == {}  # ... but no history counted
    await account(2, 110.0)
    await wait_until(
        lambda: service.agg.families["pipeline_events_total"].values.get(("r1", "account")) == 1
    )
    service.stop()
    await task
    await account(3, 120.0)  # while it is down
    again, task = await start(nats_server.url)
    await wait_until(
        lambda: again.agg.families["pipeline_events_total"].values.get(("r1", "account")) == 1
    )
    assert again.agg.families["equity_dollars"].values == {("r1",): 120.0}
    await account(4, 130.0)  # handled after anything a replay would have delivered first
    await wait_until(lambda: again.agg.families["equity_dollars"].values == {("r1",): 130.0})
    # Only what it had not seen: 2 was acked before the restart, 1 is history.
    assert again.agg.families["pipeline_events_total"].values == {("r1", "account"): 2}
    again.stop()
    await task


async def test_redeliveries_after_a_restart_are_not_read_as_lost_events(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects
) -> None:
    """The process before acked some events out of order (acks lost while NATS was away,
    then SIGKILL): the next one is given only the unacked ones, with holes between them
    that are not losses. Found by benchmarks/soak.py: ~70 "lost" per bot after a kill."""
    js = nc.jetstream()

    async def account(i: int) -> None:
        ev = Account(equity=100.0 + i, id=f"r-{i}", bot="r1", run="r", seq=i, ts=1.7e9 + i)
        await js.publish(
            subjects.event("r1", "account"), encode(ev), headers={"Nats-Msg-Id": ev.id}
        )

    async def lost(service: MetricsService) -> str:
        body = (await asyncio.to_thread(get, service, "/metrics"))[2].decode()
        return next(ln for ln in body.splitlines() if ln.startswith("tradewire_pipeline_lost"))

    service, task = await start(nats_server.url)  # creates its durable, then goes away
    service.stop()
    await task
    for i in range(1, 11):
        await account(i)
    before = await js.pull_subscribe_bind(service.config.durable, subjects.events_stream)
    for msg in await before.fetch(10, timeout=5):  # the process before: 4 and 6 not acked
        seq = json.loads(msg.data)["seq"]
        await (msg.nak() if seq in (4, 6) else msg.ack_sync())
    await before.unsubscribe()
    for i in range(11, 14):
        await account(i)
    again, task = await start(nats_server.url)
    events = again.agg.families["pipeline_events_total"].values
    await wait_until(lambda: events.get(("r1", "account")) == 5)  # 4, 6 again; 11..13
    assert await lost(again) == 'tradewire_pipeline_lost_events{bot="r1"} 0.0'
    await account(15)  # 14 never comes: a real loss is still seen
    await wait_until(lambda: events.get(("r1", "account")) == 6)
    assert await lost(again) == 'tradewire_pipeline_lost_events{bot="r1"} 1.0'
    again.stop()
    await task


async def test_each_configured_profile_has_its_own_path(nats_server: EmbeddedNats) -> None:
    service, task = await start(nats_server.url, profiles="tradewire,bot")
    try:
        service.agg.apply(_account("p1", 5.0))
        code, _, both = await asyncio.to_thread(get, service, "/metrics")
        assert code == 200
        assert b'tradewire_equity_dollars{bot="p1"} 5.0' in both
        assert b'bot_portfolio_value_usdt{bot="p1"} 5.0' in both
        code, _, one = await asyncio.to_thread(get, service, "/metrics/traderagent")
        assert code == 200 and b"traderagent_portfolio_value" in one
        assert b"tradewire_" not in one
        code, _, _ = await asyncio.to_thread(get, service, "/metrics/gpt_trader")
        assert code == 404  # not configured
    finally:
        service.stop()
        await task


def _account(bot: str, equity: float) -> Account:
    return Account(equity=equity, id=f"{bot}-1", bot=bot, run="r", seq=1, ts=1.7e9)
