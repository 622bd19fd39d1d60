"""The report's health counts: stale marks (explicit and by gap, per-bot interval),
unfilled orders (reported or inferred, each once), API errors (failed calls and api errors)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.importers.conftest import store_events
from tradewire.consumers.cli import _per_bot_seconds
from tradewire.consumers.report import DailyReport, build_report
from tradewire.schemas import BrokerCall, Envelope, Error, Mark, Order, StaleMark, UnfilledOrder

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC).timestamp()
T = NOW - 3600


def events() -> list[Envelope]:
    out: list[tuple[str, Envelope, float]] = []
    # m60 marks every 60 s; a 5-min gap with the bot's own stale_mark inside, a 4-min gap
    # without one, and a stale_mark between regular marks.
    minutes = [*range(10), *range(15, 20), *range(24, 30)]
    out += [("m60", Mark(symbol="BTC", price=1.0), T + 60 * m) for m in minutes]
    out += [
        ("m60", StaleMark(symbol="BTC"), T + 60 * 12),
        ("m60", StaleMark(symbol="BTC"), T + 60 * 27 + 5),
    ]
    # fast marks every second, with one 40 s gap.
    out += [("fast", Mark(symbol="ETH", price=1.0), T + s) for s in [*range(20), *range(60, 80)]]
    # Unfilled: o1 reported and still open, o2 reported then filled, o3 open and silent,
    # o4 open but young; api errors: a failed call and an api error, not other errors.
    out += [
        ("m60", Order(symbol="X", side="buy", status="accepted", qty=1, order_id="o1"), T),
        ("m60", UnfilledOrder(order_id="o1", symbol="X", age_s=400), T + 400),
        ("m60", UnfilledOrder(order_id="o1", symbol="X", age_s=800), T + 800),
        ("m60", Order(symbol="X", side="buy", status="accepted", qty=1, order_id="o2"), T),
        ("m60", UnfilledOrder(order_id="o2", symbol="X", age_s=400), T + 400),
        ("m60", Order(symbol="X", side="buy", status="filled", qty=1, order_id="o2"), T + 500),
        ("m60", Order(symbol="X", side="buy", status="submitted", qty=1, order_id="o3"), T),
        ("m60", Order(symbol="X", side="buy", status="submitted", qty=1, order_id="o4"), NOW - 5),
        ("m60", BrokerCall(operation="submit", latency_s=0.1, outcome="failure"), T),
        ("m60", Error(component="api", error_type="api_error"), T),
        ("m60", Error(component="orders", error_type="order_placement_failed"), T),
    ]
    for n, (bot, ev, ts) in enumerate(out, start=1):
        ev.bot, ev.run, ev.seq, ev.ts, ev.id = bot, f"r-{bot}", n, ts, f"r-{bot}-{n}"
    return [ev for _, ev, _ in out]


def report(tmp_path: Path, **kw: Any) -> DailyReport:
    path = tmp_path / "s.duckdb"
    if not path.exists():
        store_events(path, events())
    con = duckdb.connect(str(path), read_only=True)

    async def run(sql: str) -> list[list[Any]]:
        return [list(r) for r in con.execute(sql).fetchall()]

    try:
        return asyncio.run(build_report(run, date="2026-11-20", now=NOW, **kw))
    finally:
        con.close()


def test_stale_marks_explicit_and_by_gap(tmp_path: Path) -> None:
    bots = {b.bot: b.health for b in report(tmp_path).bots}
    # m60: its usual interval is 60 s, so only gaps over 120 s count: the 5-min gap is
    # the stale_mark inside it (once), the 4-min gap counts, plus the other stale_mark.
    assert bots["m60"].stale_marks == 3
    assert bots["fast"].stale_marks == 1  # 1 s marks: the 40 s gap is over 30 s
    per_bot = {b.bot: b.health for b in report(tmp_path, stale_mark_after_s={"m60": 600}).bots}
    assert (per_bot["m60"].stale_marks, per_bot["fast"].stale_marks) == (2, 1)
    every = {b.bot: b.health for b in report(tmp_path, stale_mark_after_s={"*": 45}).bots}
    # 45 s for all: each of m60's 20 gaps counts, except the 2 with its own stale_mark
    # inside, which count as those events.
    assert (every["m60"].stale_marks, every["fast"].stale_marks) == (18 + 2, 0)
    with pytest.raises(ValueError, match="invalid bot id"):
        report(tmp_path, stale_mark_after_s={"no such!": 5})


def test_unfilled_orders_and_api_errors(tmp_path: Path) -> None:
    health = {b.bot: b.health for b in report(tmp_path).bots}["m60"]
    assert health.unfilled_orders == 3  # o1 (reported twice), o2 (reported), o3 (inferred)
    assert health.api_errors == 2


def test_stale_mark_flag() -> None:
    assert _per_bot_seconds(["60", "gpt-prod=90"]) == {"*": 60.0, "gpt-prod": 90.0}
    with pytest.raises(ValueError, match="BOT="):
        _per_bot_seconds(["gpt=soon"])
