"""Bots that come from history, and bots that leave: an imported old log raises no live
alert; `tradewire bots retire` resolves a bot's alerts, drops its series from /metrics,
keeps its history in the store, and a retired bot that publishes again is back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.conftest import RunningStore
from tests.http_capture import Capture, capture
from tests.importers.test_gpt_trader import ROWS, make_db
from tests.metrics.test_service import get
from tests.metrics.test_service import start as start_metrics
from tests.waiting import wait_until
from tradewire.consumers.alerts import AlertsConfig, AlertsService
from tradewire.consumers.cli import main
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsService
from tradewire.publisher import Publisher
from tradewire.schemas import Heartbeat, Subjects, encode

pytestmark = pytest.mark.nats


@pytest.fixture
def receiver() -> Iterator[Capture]:
    yield from capture()


async def start_alerts(url: str, tmp_path: Path, hook: str) -> tuple[AlertsService, Any]:
    f = tmp_path / "rules.yaml"
    f.write_text(
        "rules:\n"
        "  - {name: BotDown, kind: absence, event: heartbeat, critical: 1}\n"
        f"receivers:\n  - {{name: hook, type: webhook, url: {hook}, group_interval: 1s}}\n"
    )
    svc = AlertsService(AlertsConfig(nats_url=url, http_port=0, rules=str(f), tick_s=0.1))
    return svc, await svc.start(20)


def alerts(receiver: Capture) -> list[tuple[str, str, str]]:
    return [(a["state"], a["rule"], a["bot"]) for b in receiver.bodies for a in b["alerts"]]


async def scrape(metrics: MetricsService) -> str:
    return (await asyncio.to_thread(get, metrics, "/metrics"))[2].decode()


async def test_an_imported_old_log_raises_no_live_alert(
    nats_server: EmbeddedNats, receiver: Capture, tmp_path: Path, capsys: Any
) -> None:
    url = nats_server.url
    svc, task = await start_alerts(url, tmp_path, receiver.url)
    old = [(ts.replace("2026-11-20", "2025-01-01"), kind, p) for ts, kind, p in ROWS]
    db = make_db(tmp_path / "events.db", old)  # 10 events from January 2025
    argv = ["import", "gpt-trader", "--events-db", str(db), "--bot", "gpt", "--nats-url", url]
    argv += ["--outbox-dir", str(tmp_path / "outbox")]
    assert await asyncio.to_thread(main, argv) == 0
    js = svc.nc.jetstream() if svc.nc is not None else None
    assert js is not None

    async def caught_up() -> bool:  # every imported event has been through the engine
        info = await js.consumer_info(svc.subjects.events_stream, svc.config.durable)
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    await wait_until(caught_up, what="the alerts service to take in the import")
    gpt = svc.engine.bots["gpt"]  # an old log: seen, never live
    assert not gpt.live and gpt.seen < time.time() - 86_400
    # A live bot that falls silent: its BotDown proves ticks ran after the import.
    async with Publisher(
        "sentinel", url=url, outbox_dir=tmp_path / "s", heartbeat_interval_s=0
    ) as tel:
        tel.heartbeat()
        assert await tel.flush(10)
    await wait_until(lambda: ("firing", "BotDown", "sentinel") in alerts(receiver))
    assert alerts(receiver) == [("firing", "BotDown", "sentinel")]  # none for gpt
    assert not any(i.bot == "gpt" for i in svc.engine.instances.values())
    await svc.refresh()
    details = svc.health.checks["alerts"].details
    assert (details["bots_live"], details["bots_history_only"]) == (1, 1)
    svc.stop()
    assert await task == 0  # saves the bots' state, which `bots list` reads
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["bots", "list", "--nats-url", url]) == 0
    listing = capsys.readouterr().out
    gpt = next(line for line in listing.splitlines() if " gpt " in line)
    assert "history only" in gpt
    assert "live" in next(line for line in listing.splitlines() if "sentinel" in line)


async def test_retire_resolves_drops_series_keeps_history_and_a_return_is_seen(
    nats_server: EmbeddedNats,
    receiver: Capture,
    tmp_path: Path,
    *,
    store: RunningStore,
    capsys: Any,
    caplog: Any,
) -> None:
    url = nats_server.url
    svc, task = await start_alerts(url, tmp_path, receiver.url)
    metrics, mtask = await start_metrics(url)
    async with Publisher(
        "gone", url=url, outbox_dir=tmp_path / "g", heartbeat_interval_s=0, lifecycle_events=False
    ) as tel:
        tel.heartbeat()
        tel.mark(symbol="BTC-USD", price=64000.0)
        assert await tel.flush(10)
    await wait_until(lambda: ("firing", "BotDown", "gone") in alerts(receiver))
    await wait_until(lambda: "gone" in metrics.agg.last_heartbeat)
    assert 'bot="gone"' in await scrape(metrics)
    await store.wait_for("SELECT count(*) FROM events WHERE bot = 'gone'", 2)

    assert await asyncio.to_thread(main, ["bots", "retire", "nobody", "--nats-url", url]) == 1
    assert "knows no bot 'nobody'" in capsys.readouterr().err
    retire = ["bots", "retire", "gone", "--comment", "decommissioned (ana)", "--nats-url", url]
    assert await asyncio.to_thread(main, retire) == 0
    assert "retired gone" in capsys.readouterr().out
    # The fleet bucket did not exist until now: the services find it within 2 s.
    await wait_until(lambda: ("resolved", "BotDown", "gone") in alerts(receiver))
    assert "gone" not in svc.engine.bots
    await wait_until(lambda: 'bot="gone"' not in metrics.exposition.render(time.time()))
    assert 'bot="gone"' not in await scrape(metrics)
    assert store.rows("SELECT count(*) FROM events WHERE bot = 'gone'") == [(2,)]  # history

    # A late event from before the retirement changes nothing; the proof that it was
    # handled is a later event of another bot.
    nc = await nats.connect(url)
    subjects = Subjects()
    late = Heartbeat(id="late-1", bot="gone", run="r0", seq=1, ts=time.time() - 60)
    await nc.publish(subjects.event("gone", "heartbeat"), encode(late))
    other = Heartbeat(id="other-1", bot="other", run="r0", seq=1, ts=time.time())
    await nc.publish(subjects.event("other", "heartbeat"), encode(other))
    await nc.flush()
    await nc.close()
    await wait_until(lambda: "other" in svc.engine.bots and "other" in metrics.agg.bots)
    assert "gone" not in svc.engine.bots and 'bot="gone"' not in await scrape(metrics)
    assert await asyncio.to_thread(main, ["bots", "list", "--nats-url", url]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if " gone " in x)
    assert "retired" in line and "decommissioned (ana)" in line

    # The bot runs again: live again, and said so.
    with caplog.at_level(logging.WARNING):
        async with Publisher(
            "gone", url=url, outbox_dir=tmp_path / "g2", heartbeat_interval_s=0
        ) as tel:
            tel.heartbeat()
            assert await tel.flush(10)
        await wait_until(lambda: "gone" in svc.engine.bots and svc.engine.bots["gone"].live)
        await wait_until(lambda: 'bot="gone"' in metrics.exposition.render(time.time()))
    said = [r.getMessage() for r in caplog.records if "publishes again" in r.getMessage()]
    assert len(said) == 2 and {m.split(":")[0] for m in said} == {"alerts", "metrics"}
    for s, t in ((svc, task), (metrics, mtask)):
        s.stop()
        assert await t == 0


def test_bots_commands_fail_in_one_line_without_nats(capsys: Any) -> None:
    for argv in (["bots", "list"], ["bots", "retire", "b1"]):
        assert main([*argv, "--nats-url", "nats://127.0.0.1:1"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("tradewire bots: cannot reach NATS at nats://127.0.0.1:1")
        assert len(err.strip().splitlines()) == 1
    assert main(["bots", "retire", "bad bot", "--nats-url", "nats://127.0.0.1:1"]) == 2
    assert "'bad bot' is not a bot id" in capsys.readouterr().err
