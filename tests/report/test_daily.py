"""The daily report against a hand-built store; every expected number is worked out here."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tradewire.consumers.cli import main
from tradewire.consumers.report import (
    DailyReport,
    build_report,
    render_html,
    render_text,
    window,
)
from tradewire.consumers.runtime import Delivery
from tradewire.consumers.store import StoreWriter
from tradewire.schemas import (
    Account,
    AlertChange,
    BrokerCall,
    Cycle,
    DataQuality,
    DataQualityIssue,
    Envelope,
    Fill,
    Guard,
    Heartbeat,
    Mark,
    Order,
    Risk,
    Ws,
)

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC).timestamp()
T = NOW - 3600  # events happen in the hour before the report


def build_store(path: Path) -> None:
    seqs = {"a": 0, "b": 0}
    rows: list[tuple[Envelope, Delivery]] = []

    def add(bot: str, ev: Envelope, ts: float, skip: int = 0) -> None:
        seqs[bot] += 1 + skip
        ev.bot, ev.run, ev.seq, ev.ts = bot, f"run-{bot}", seqs[bot], ts
        ev.id = f"run-{bot}-{seqs[bot]}"
        rows.append((ev, Delivery("s", b"", "", len(rows) + 1, 1, int(ts * 1e9), 0)))

    for i, (eq, unreal, fund) in enumerate(
        [(1000, 5, 0), (1010, 0, 0.5), (990, -3, 0.5), (1030, 2, 1.5)]
    ):
        add("a", Account(equity=eq, unrealized_pnl=unreal, funding_pnl=fund), T + 10 * (i + 1))
    for sym, pnl, fee, qty, price in [
        ("BTC-USD", 0, 1, 1, 100),
        ("BTC-USD", 10, 1, 1, 110),
        ("ETH-USD", -4, 0.5, 2, 50),
        ("BTC-USD", 6, 0.5, 1, 106),
    ]:
        add(
            "a",
            Fill(symbol=sym, side="sell", qty=qty, price=price, fee=fee, realized_pnl=pnl),
            T + 15,
        )
    add(
        "a",
        Fill(symbol="BTC-USD", side="sell", qty=1, price=1, realized_pnl=1000),
        NOW - 86400 - 10,
    )  # before the window: must not count
    for action, guard in [
        ("tripped", "daily_loss"),
        ("tripped", "daily_loss"),
        ("cleared", "daily_loss"),
        ("tripped", "max_exposure"),
    ]:
        add("a", Guard(guard=guard, action=action), T + 5)  # type: ignore[arg-type]
    for i, state in enumerate(["closed", "open", "open", "closed"]):
        add("a", Risk(circuit_breaker=state), T + 10 * (i + 1))  # type: ignore[arg-type]
    for sym, t in [
        ("BTC-USD", 0),
        ("BTC-USD", 5),
        ("BTC-USD", 50),
        ("ETH-USD", 0),
        ("ETH-USD", 20),
    ]:
        add("a", Mark(symbol=sym, price=1.0), T + t)
    add("a", Ws(state="reconnecting"), T + 1)
    add("a", Ws(state="reconnecting"), T + 2)
    add("a", Ws(state="connected"), T + 3)
    add("a", Order(symbol="X", side="buy", status="submitted", qty=1, order_id="o1"), T + 1)
    add("a", Order(symbol="X", side="buy", status="filled", qty=1, order_id="o1"), T + 2)
    add("a", Order(symbol="X", side="buy", status="submitted", qty=1, order_id="o2"), T + 1)
    add("a", Order(symbol="X", side="buy", status="submitted", qty=1, order_id="o3"), NOW - 10)
    add(
        "a",
        Order(
            symbol="X",
            side="buy",
            status="rejected",
            qty=1,
            order_id="o4",
            reason="insufficient_funds",
        ),
        T + 3,
    )
    for lat, outcome in [(0.1, "success"), (0.2, "success"), (0.3, "failure"), (0.4, "success")]:
        add("a", BrokerCall(operation="submit", latency_s=lat, outcome=outcome), T + 4)  # type: ignore[arg-type]
    add("a", Cycle(duration_s=1.0), T + 1, skip=3)  # three events lost before this one
    for d in (2.0, 3.0, 4.0):
        add("a", Cycle(duration_s=d), T + 1)
    add("a", Cycle(duration_s=10.0, ok=False, error_type="KeyError"), T + 1)
    add("a", DataQuality(symbol="BTC-USD", score=1.0), T + 6)
    add(
        "a",
        DataQuality(
            symbol="BTC-USD",
            score=0.5,
            issues=[
                DataQualityIssue(issue_type="gap", count=2),
                DataQualityIssue(issue_type="spike", count=1),
            ],
        ),
        T + 7,
    )
    add("a", Heartbeat(), NOW - 100)
    add("b", Account(equity=500.0), T + 20)
    add("b", Fill(symbol="SOL-USD", side="buy", qty=1, price=10, fee=0.2, realized_pnl=-2), T + 21)
    writer = StoreWriter(path)
    writer.write(
        rows,
        [(Delivery("tradewire.evt.a.mark", b"{", "", 10_000, 1, int((T + 1) * 1e9), 0), "bad")],
    )
    writer.write_alerts(alert_rows())
    writer.close()


def alert_rows() -> list[tuple[AlertChange, Delivery]]:
    """Bot a: DailyLossGuard fires (warning), escalates (critical: same episode), resolves,
    fires again; Drawdown fired the day before. Bot b: pending that cleared (not fired)."""

    def change(n: int, bot: str, rule: str, state: str, times: tuple[float, float]) -> AlertChange:
        ts, since = times
        return AlertChange(
            id=f"{rule}-{bot}-{n}",
            fingerprint=f"{rule}-{bot}",
            rule=rule,
            bot=bot,
            state=state,  # type: ignore[arg-type]
            severity="warning",
            ts=ts,
            active_since=since,
        )

    changes = [
        change(1, "a", "DailyLossGuard", "firing", (T + 1, T + 1)),
        change(2, "a", "DailyLossGuard", "firing", (T + 2, T + 1)),
        change(3, "a", "DailyLossGuard", "resolved", (T + 3, T + 1)),
        change(4, "a", "DailyLossGuard", "firing", (T + 4, T + 4)),
        change(5, "a", "Drawdown", "firing", (NOW - 90_000, NOW - 90_000)),
        change(6, "b", "BotDown", "pending", (T + 1, T + 1)),
        change(7, "b", "BotDown", "inactive", (T + 2, T + 1)),
    ]
    return [
        (c, Delivery(f"tradewire.alert.{c.bot}.{c.rule}", b"", "", i, 1, 0, 0))
        for i, c in enumerate(changes, 1)
    ]


def report_of(tmp_path: Path, bot: str | None = None) -> DailyReport:
    import asyncio

    db = tmp_path / "r.duckdb"
    if not db.exists():
        build_store(db)
    con = duckdb.connect(str(db), read_only=True)

    async def run(sql: str) -> list[list[Any]]:
        return [list(r) for r in con.execute(sql).fetchall()]

    try:
        return asyncio.run(build_report(run, date="2026-11-20", now=NOW, bot=bot))
    finally:
        con.close()


@pytest.fixture
def report(tmp_path: Path) -> DailyReport:
    return report_of(tmp_path)


def test_window(report: DailyReport) -> None:
    # --date today: that day so far (NOW is noon), never the afternoon before it
    assert report.window_end == NOW and report.window_start == NOW - 12 * 3600
    assert [b.bot for b in report.bots] == ["a", "b"]


def test_window_is_the_dates() -> None:
    midnight = NOW - 12 * 3600  # 2026-11-20 00:00 UTC
    assert window("2026-11-19", 24, NOW) == ("2026-11-19", midnight - 86400, midnight)
    assert window("2026-11-19", 48, NOW) == ("2026-11-19", midnight - 2 * 86400, midnight)
    assert window(None, 24, NOW) == ("2026-11-20", NOW - 86400, NOW)  # the last 24 h
    with pytest.raises(ValueError, match="2030-01-01 has not begun"):
        window("2030-01-01", 24, NOW)
    with pytest.raises(ValueError, match="use YYYY-MM-DD"):
        window("20-11-2026", 24, NOW)


def test_one_bot_report_is_that_bots_alone(tmp_path: Path, report: DailyReport) -> None:
    one = report_of(tmp_path, bot="a")
    assert one.bot == "a" and one.fleet.bot == "a" and one.bots == []
    a = report.bots[0]
    assert one.fleet.pnl == a.pnl and one.fleet.trades == a.trades
    assert one.fleet.orders == a.orders and one.fleet.pipeline == a.pipeline
    assert one.fleet.pipeline.quarantined is None  # no bot owns a quarantined message
    text = render_text(one)
    assert text.startswith("Daily Trading Report - 2026-11-20 - bot a\n")
    assert "== a ==" in text and "== fleet ==" not in text and "quarantined" not in text
    assert "Realized PnL by symbol (a)" in render_html(one)


def test_bot_a_numbers(report: DailyReport) -> None:
    a = report.bots[0]
    assert a.account.equity == 1030 and a.account.equity_start == 1000
    assert a.account.equity_change == 30
    assert a.account.equity_change_pct == pytest.approx(3.0)
    assert a.pnl.realized == 12 and a.pnl.fees == 3 and a.pnl.funding == 1.5
    assert a.pnl.unrealized == 2
    assert a.pnl.total == pytest.approx(12 - 3 + 1.5 + 2)
    t = a.trades
    assert (t.fills, t.closing, t.winning, t.losing) == (4, 3, 2, 1)
    assert (t.avg_win, t.avg_loss, t.largest_win, t.largest_loss) == (8, -4, 10, -4)
    p = a.performance
    assert p.win_rate == pytest.approx(2 / 3)
    assert p.profit_factor == pytest.approx(16 / 4)
    std = math.sqrt(((10 - 4) ** 2 + (-4 - 4) ** 2 + (6 - 4) ** 2) / 3)
    assert p.sharpe_ratio == pytest.approx(4 / std)
    assert p.max_drawdown == 20
    assert p.max_drawdown_pct == pytest.approx(20 / 1010 * 100)
    btc, eth = a.symbols
    assert (btc.symbol, btc.realized, btc.fills, btc.win_rate, btc.notional) == (
        "BTC-USD",
        16,
        3,
        1.0,
        316,
    )
    assert (eth.symbol, eth.realized, eth.fills, eth.win_rate, eth.notional) == (
        "ETH-USD",
        -4,
        1,
        0.0,
        100,
    )
    assert a.risk.guard_triggers == {"daily_loss": 2, "max_exposure": 1}
    assert a.risk.circuit_breaker_timeline == [
        (T + 10, "closed"),
        (T + 20, "open"),
        (T + 40, "closed"),
    ]
    h = a.health
    assert (h.stale_marks, h.ws_reconnects, h.unfilled_orders, h.api_errors) == (1, 2, 1, 1)
    assert h.last_heartbeat_age_s == pytest.approx(100) and h.liveness == "GREEN"
    assert a.orders.by_status == {"submitted": 3, "filled": 1, "rejected": 1}
    assert a.orders.rejections == {"insufficient_funds": 1}
    (lat,) = a.orders.broker_latency_s
    assert (lat.operation, lat.count) == ("submit", 4)
    assert lat.p50 == pytest.approx(0.25)
    assert lat.p95 == pytest.approx(0.3 + 0.85 * 0.1)
    assert lat.p99 == pytest.approx(0.3 + 0.97 * 0.1)
    c = a.cycles
    assert (c.count, c.errors, c.max_s) == (5, 1, 10)
    assert c.p50_s == pytest.approx(3) and c.p95_s == pytest.approx(4 + 0.8 * 6)
    d = a.data_quality
    assert (d.checks, d.avg_score, d.min_score, d.issues) == (2, 0.75, 0.5, {"gap": 2, "spike": 1})
    assert a.pipeline.lost == 3

    # accounts 4, fills 4 (not the old one), guards 4, risk 4, marks 5, ws 3, orders 5,
    # broker calls 4, cycles 5, data quality 2, heartbeat 1
    assert a.pipeline.events == 4 + 4 + 4 + 4 + 5 + 3 + 5 + 4 + 5 + 2 + 1


def test_alerts_fired_counts_episodes_in_the_window(report: DailyReport) -> None:
    a, b = report.bots
    assert a.alerts_fired == {"DailyLossGuard": 2}
    assert b.alerts_fired == {}
    assert report.fleet.alerts_fired == {"DailyLossGuard": 2}


def test_fleet_numbers(report: DailyReport) -> None:
    f, b = report.fleet, report.bots[1]
    assert b.health.liveness == "UNKNOWN" and b.health.last_heartbeat_age_s is None
    assert f.account.equity == 1530
    assert f.pnl.realized == 10 and f.pnl.fees == pytest.approx(3.2)
    assert f.pnl.total == pytest.approx(10 - 3.2 + 1.5 + 2)
    assert (f.trades.closing, f.trades.winning, f.trades.losing) == (4, 2, 2)
    assert f.performance.win_rate == 0.5
    assert f.performance.profit_factor == pytest.approx(16 / 6)
    assert f.performance.max_drawdown == 20  # the worst bot's
    assert [s.symbol for s in f.symbols] == ["BTC-USD", "SOL-USD", "ETH-USD"]
    assert f.pipeline.quarantined == 1 and f.pipeline.lost == 3
    assert f.risk.circuit_breaker_timeline == [(T + 20, "a: open"), (T + 40, "a: closed")]


def test_renderings(report: DailyReport) -> None:
    text = render_text(report)
    assert "Daily Trading Report - 2026-11-20" in text
    assert "realized $12.00" in text and "liveness GREEN" in text
    page = render_html(report)
    # equity, drawdown, the breaker (bot a opened it), PnL by symbol, broker latency
    assert page.startswith("<!doctype html>") and page.count("<svg") == 5
    assert "<script" not in page and "http" not in page.split("</style>")[1]  # self-contained


def test_cli_writes_all_three(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "r.duckdb"
    build_store(db)
    out = tmp_path / "out"
    assert (
        main(["report", "daily", "--db", str(db), "--date", "2026-11-20", "--output-dir", str(out)])
        == 0
    )
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"daily_report_2026-11-20.{e}" for e in ("html", "json", "txt")]
    assert "Daily Trading Report - 2026-11-20" in capsys.readouterr().out
    assert main(["report", "daily", "--db", str(db), "--bot", "bad bot"]) == 2


def test_cli_bot_report_has_its_own_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.duckdb"
    build_store(db)
    out = tmp_path / "out"
    day = ["report", "daily", "--db", str(db), "--date", "2026-11-20", "--output-dir", str(out)]
    assert main(day) == 0
    fleet = (out / "daily_report_2026-11-20.txt").read_text()
    assert main([*day, "--bot", "b"]) == 0
    assert (out / "daily_report_2026-11-20.txt").read_text() == fleet  # not overwritten
    mine = (out / "daily_report_2026-11-20_b.txt").read_text()
    assert "== b ==" in mine and "== fleet ==" not in mine
    assert sorted(p.name for p in out.iterdir() if "_b." in p.name) == [
        f"daily_report_2026-11-20_b.{e}" for e in ("html", "json", "txt")
    ]
    assert "- bot b" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bot", "nobody"], "no events from bot 'nobody' in the store (bots: a, b)"),
        (["--date", "2030-01-01"], "--date 2030-01-01 has not begun yet"),
    ],
)
def test_cli_unknown_bot_and_future_date_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    db = tmp_path / "r.duckdb"
    build_store(db)
    out = tmp_path / "out"
    argv = ["report", "daily", "--db", str(db), "--output-dir", str(out), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()  # no empty report written


def test_cli_a_named_db_that_does_not_exist_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # With a URL at hand it must still not go elsewhere: port 1 would fail differently.
    missing = tmp_path / "missing.duckdb"
    argv = ["report", "daily", "--db", str(missing), "--nats-url", "nats://127.0.0.1:1"]
    assert main(argv) == 2
    assert f"{missing}: no such file" in capsys.readouterr().err


def test_cli_a_db_that_is_not_a_store_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "other.duckdb"
    duckdb.connect(str(db)).close()  # a DuckDB file, but not one a store wrote
    assert main(["report", "daily", "--db", str(db), "--output-dir", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"tradewire report: {db}: not a tradewire store (it has no events table)"
    ]
