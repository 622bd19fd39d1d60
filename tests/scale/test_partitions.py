"""N instances of each service share the fleet by bot: every bot's events, metric series
and alerts live in exactly one instance, and the stores' files read as one store."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import nats
import pytest

from tests.scale import DRAWDOWN_RULES as RULES
from tests.waiting import wait_until
from tradewire.consumers.alerts import AlertsConfig, AlertsService
from tradewire.consumers.cli import main
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.consumers.report import build_report
from tradewire.consumers.runtime import ConsumerService, slot_of
from tradewire.consumers.sql_client import open_runner
from tradewire.consumers.store import StoreConfig, StoreService
from tradewire.publisher import (
    Publisher,
    StreamLimitError,
    StreamLimits,
    apply_stream_limits,
    ensure_events_stream,
)
from tradewire.schemas import Subjects

pytestmark = [pytest.mark.nats, pytest.mark.slow]
S = TypeVar("S", bound=ConsumerService)

SUBJECTS = Subjects()
SLOTS = 6  # the stream's partitions: 3 stores take 2 each, 2 metrics/alerts 3 each
BOTS = [f"bot-{i:02d}" for i in range(12)]


def owner(bot: str, instances: int) -> int:
    return slot_of(bot, SLOTS) % instances


def test_the_bots_spread_over_every_instance() -> None:
    """The test's premise: each instance of 3 (and of 2) owns some of the bots."""
    for n in (2, 3):
        assert sorted({owner(b, n) for b in BOTS}) == list(range(n))


async def test_the_server_partitions_by_bot_as_the_services_compute_it(
    nats_server: EmbeddedNats,
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        await apply_stream_limits(nc, SUBJECTS, StreamLimits(partitions=SLOTS))
        bots = [f"b{i}" for i in range(40)] + ["bot-a", "X_y-1", "7"]
        for bot in bots:
            await nc.jetstream().publish(SUBJECTS.event(bot, "mark"), b"{}")
        info = await nc.jetstream().stream_info(SUBJECTS.events_stream, subjects_filter=">")
        stored = sorted(info.state.subjects or {})
        assert stored == sorted(f"{SUBJECTS.event(b, 'mark')}.{slot_of(b, SLOTS)}" for b in bots)
        with pytest.raises(StreamLimitError, match="cannot change to 12"):
            await apply_stream_limits(nc, SUBJECTS, StreamLimits(partitions=12))
    finally:
        await nc.close()


async def test_a_partitioned_service_needs_a_partitioned_stream(
    nats_server: EmbeddedNats,
) -> None:
    nc = await nats.connect(nats_server.url)
    await ensure_events_stream(nc, SUBJECTS)
    await nc.close()
    svc = MetricsService(
        MetricsConfig(nats_url=nats_server.url, http_port=0, partition=1, partitions=2)
    )
    with pytest.raises(Exception, match="not split into partitions; set stream_partitions"):
        await svc.start(20)


def _bots_in(exposition: str) -> set[str]:
    return set(re.findall(r'\bbot="([^"]+)"', exposition))


async def _metrics_text(svc: MetricsService) -> str:
    _, _, body = await svc._metrics({})
    return body.decode()


async def _cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_instances_share_the_fleet_and_queries_see_it_whole(
    nats_server: EmbeddedNats, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = nats_server.url
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    stores_dir = tmp_path / "stores"
    stores = [
        StoreService(
            StoreConfig(
                nats_url=url,
                db=str(stores_dir / f"fleet-{i}.duckdb"),
                http_port=0,
                max_wait_s=0.1,
                partition=i,
                partitions=3,
                stream_partitions=SLOTS,
            )
        )
        for i in range(3)
    ]
    metrics = [
        MetricsService(MetricsConfig(nats_url=url, http_port=0, partition=i, partitions=2))
        for i in range(2)
    ]
    alerts = [
        AlertsService(
            AlertsConfig(
                nats_url=url, http_port=0, rules=str(rules), tick_s=0.1, partition=i, partitions=2
            )
        )
        for i in range(2)
    ]
    services: list[ConsumerService] = [*stores, *metrics, *alerts]
    tasks = [await s.start(30) for s in services]
    assert [s.service_config.durable for s in stores] == [
        "tradewire-store-p0of3",
        "tradewire-store-p1of3",
        "tradewire-store-p2of3",
    ]
    # Store 1 reads each stream partition it owns (1 and 4) through a consumer of its own
    # with a single filter (nats-server serves one consumer with several filters much
    # slower), and the events stored before the split through one more.
    nc = await nats.connect(url)
    try:
        infos = await nc.jetstream().consumers_info(SUBJECTS.events_stream)
    finally:
        await nc.close()
    evt = SUBJECTS.events_wildcard.removesuffix(">")
    assert {
        i.name: (i.config.filter_subject, i.config.filter_subjects)
        for i in infos
        if i.name.startswith("tradewire-store-p1of3")
    } == {
        "tradewire-store-p1of3-s1": (f"{evt}*.*.1", None),
        "tradewire-store-p1of3-s4": (f"{evt}*.*.4", None),
        "tradewire-store-p1of3": (f"{evt}*.*", None),
    }

    emitted: dict[str, int] = {}
    for bot in BOTS:
        async with Publisher(
            bot, url=url, outbox_dir=tmp_path / "o" / bot, heartbeat_interval_s=0
        ) as tel:
            for i in range(20):
                tel.mark(symbol="BTC-USD", price=100.0 + i)
            tel.risk(drawdown_pct=12.0)  # every bot fires Drawdown once
            assert await tel.flush(10)
        emitted[bot] = tel.stats().emitted  # its lifecycle events too
    total = sum(emitted.values())

    def rows(svc: StoreService, sql: str) -> list[tuple[Any, ...]]:
        assert svc.writer is not None
        cur = svc.writer.con.cursor()
        try:
            return cur.execute(sql).fetchall()
        finally:
            cur.close()

    def stored() -> int:
        return sum(rows(s, "SELECT count(*) FROM events")[0][0] for s in stores)

    def alerts_stored() -> int:
        return sum(rows(s, "SELECT count(*) FROM alerts")[0][0] for s in stores)

    await wait_until(lambda: stored() == total, what=f"{total} events in the stores")
    await wait_until(lambda: alerts_stored() == len(BOTS), what="an alert change per bot")

    # Store rows: each bot's events in its owner's file only, all of them.
    for i, svc in enumerate(stores):
        per_bot = dict(rows(svc, "SELECT bot, count(*) FROM events GROUP BY bot"))
        assert per_bot == {b: n for b, n in emitted.items() if owner(b, 3) == i}
        alert_bots = {b for (b,) in rows(svc, "SELECT bot FROM alerts")}
        assert alert_bots == {b for b in BOTS if owner(b, 3) == i}

    # Alert windows and firing alerts: in the owner instance only.
    await wait_until(
        lambda: sum(len(a.engine.firing()) for a in alerts) == len(BOTS), what="12 firing"
    )
    for i, instance in enumerate(alerts):
        mine = {b for b in BOTS if owner(b, 2) == i}
        assert {c.bot for c in instance.engine.firing()} == mine
        assert set(instance.engine.bots) == mine

    # Metric series: each instance exports its own bots (firing alerts included), no bot
    # is exported twice, and together they cover the fleet.
    async def alert_series_exported() -> bool:
        texts = [await _metrics_text(m) for m in metrics]
        return sum(t.count("tradewire_alert_firing{") for t in texts) == len(BOTS)

    await wait_until(alert_series_exported, what="each firing alert exported once")
    seen = [_bots_in(await _metrics_text(m)) for m in metrics]
    for i, bots in enumerate(seen):
        assert bots == {b for b in BOTS if owner(b, 2) == i}

    # A replacement with the same index takes over its partition: the alerts it had firing
    # (from the shared bucket: its bots' keys only), the metrics of its bots (seeded from
    # the stream: its partitions only), its durable consumer.
    async def replace(old: S, new: S) -> S:
        k = services.index(old)
        old.stop()
        assert await asyncio.wait_for(tasks[k], 20) == 0
        services[k], tasks[k] = new, await new.start(30)
        return new

    alerts[0] = await replace(alerts[0], AlertsService(alerts[0].config))
    metrics[1] = await replace(metrics[1], MetricsService(metrics[1].config))
    assert {c.bot for c in alerts[0].engine.firing()} == {b for b in BOTS if owner(b, 2) == 0}
    assert _bots_in(await _metrics_text(metrics[1])) == {b for b in BOTS if owner(b, 2) == 1}

    # Over NATS: the stores are found; one bot's report comes from its store, a fleet-wide
    # query is refused rather than answered from one store.
    capsys.readouterr()
    assert await _cli("sql", "SELECT count(*) FROM events", "--nats-url", url) == 2
    assert "3 stores each hold a share" in capsys.readouterr().err
    now = time.time()
    bot = BOTS[0]
    async with open_runner(None, url, SUBJECTS, bot=bot) as run:
        over_nats = msgspec.to_builtins(await build_report(run, bot=bot, now=now))
    backtest = ["alerts", "backtest", "--rules", str(rules), "--format", "json"]
    backtest += ["--from", str(now - 600), "--to", str(now + 1), "--step", "1s"]
    capsys.readouterr()
    assert await _cli(*backtest, "--nats-url", url) == 0
    merged_backtest = json.loads(capsys.readouterr().out)
    merged_backtest.pop("to")  # --to in the future: the replay ends at now, run by run
    assert merged_backtest["events"] == len(BOTS)  # every store's risk events, merged
    assert len(merged_backtest["episodes"]) == len(BOTS)

    for service, task in zip(services, tasks, strict=True):
        service.stop()
        assert await asyncio.wait_for(task, 20) == 0

    # One store holding the whole fleet, from the same stream: what the files must equal.
    full = StoreService(
        StoreConfig(nats_url=url, db=str(tmp_path / "full.duckdb"), http_port=0, max_wait_s=0.1)
    )
    task = await full.start(30)
    await wait_until(lambda: rows(full, "SELECT count(*) FROM events")[0][0] == total)
    await wait_until(lambda: rows(full, "SELECT count(*) FROM alerts")[0][0] == len(BOTS))
    full.stop()
    assert await asyncio.wait_for(task, 20) == 0

    async def report(db: Path | Sequence[Path], bot: str | None = None) -> Any:
        async with open_runner(db, None, SUBJECTS) as run:
            return msgspec.to_builtins(await build_report(run, bot=bot, now=now))

    whole = tmp_path / "full.duckdb"
    assert await report(stores_dir) == await report(whole)
    assert over_nats == await report(whole, bot)

    def sql(*db: str) -> list[str]:
        return ["sql", "SELECT count(*), count(DISTINCT id) FROM events", *db, "--format", "csv"]

    capsys.readouterr()
    assert await _cli(*sql("--db", str(stores_dir))) == 0
    assert capsys.readouterr().out.splitlines()[1] == f"{total},{total}"
    capsys.readouterr()
    assert await _cli(*backtest, "--db", str(stores_dir)) == 0
    from_files = json.loads(capsys.readouterr().out)
    assert from_files.pop("to") <= time.time()
    assert from_files == merged_backtest

    # A missing partition is an error (or, asked for, a warning); a partition given twice
    # is an error: its bots would count twice.
    files = sorted(stores_dir.glob("*.duckdb"))
    two = [a for f in files[:2] for a in ("--db", str(f))]
    assert await _cli(*sql(*two)) == 2
    assert "partition 2 of 3 missing" in capsys.readouterr().err
    assert await _cli(*sql(*two, "--partial")) == 0
    out = capsys.readouterr()
    partial = total - sum(n for b, n in emitted.items() if owner(b, 3) == 2)
    assert out.out.splitlines()[1] == f"{partial},{partial}"
    assert "warning: partition 2 of 3 missing" in out.err
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(files[0], copy)
    assert await _cli(*sql(*[a for f in [*files, copy] for a in ("--db", str(f))])) == 2
    assert "the same partition given twice" in capsys.readouterr().err
    assert await _cli(*sql("--db", str(files[1]))) == 2  # one partition alone is not the fleet
    assert "partition 0, 2 of 3 missing" in capsys.readouterr().err
