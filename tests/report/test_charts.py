"""The HTML report's charts draw: buckets follow the data, the legend stays readable past
15 bots, colours differ, the breaker timeline is summarised."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import duckdb

from tradewire.consumers.report import (
    BotReport,
    DailyReport,
    build_report,
    render_html,
    render_text,
)
from tradewire.consumers.report._charts import MAX_LINES, PALETTE
from tradewire.consumers.runtime import Delivery
from tradewire.consumers.store import StoreWriter
from tradewire.schemas import Account, Envelope

NOW = 1_795_000_000.0


def two_minute_store(path: Path, bots: int) -> None:
    """Each bot's account snapshots every 5 s over the last two minutes."""
    rows: list[tuple[Envelope, Delivery]] = []
    for b in range(bots):
        for i in range(24):
            ts = NOW - 120 + 5 * i
            ev = Account(equity=1000.0 + b + (i % 7))
            ev.bot, ev.run, ev.seq, ev.ts, ev.id = f"bot-{b:02d}", f"r{b}", i + 1, ts, f"r{b}-{i}"
            rows.append((ev, Delivery("s", b"", "", len(rows) + 1, 1, int(ts * 1e9), 0)))
    writer = StoreWriter(path)
    writer.write(rows, [])
    writer.close()


def report_of(db: Path) -> DailyReport:
    con = duckdb.connect(str(db), read_only=True)

    async def run(sql: str) -> list[list[Any]]:
        return [list(r) for r in con.execute(sql).fetchall()]

    try:
        return asyncio.run(build_report(run, now=NOW))  # the default: the last 24 h
    finally:
        con.close()


def test_a_two_minute_run_in_a_day_window_draws_a_line_per_bot(tmp_path: Path) -> None:
    two_minute_store(tmp_path / "s.duckdb", bots=3)
    report = report_of(tmp_path / "s.duckdb")
    assert report.window_end - report.window_start == 86400
    for r in report.bots:
        # Buckets of 115 s / 300: every snapshot is a point (a 288 s bucket drew one).
        assert len(r.equity_curve) == 24, r.equity_curve
        assert r.equity_curve[0][0] == NOW - 120
        assert NOW - 6 < r.equity_curve[-1][0] <= NOW - 5
    page = render_html(report)
    for bot in ("bot-00", "bot-01", "bot-02"):
        (points,) = re.findall(rf'data-series="{bot}" data-points="(\d+)"', page)[:1]
        assert int(points) == 24


def synthetic(bots: int, changes: int = 0) -> DailyReport:
    """A report of ``bots`` bots with ramps of equity and, for the first, a breaker that
    flaps ``changes`` times."""
    reports = []
    for b in range(bots):
        curve = [(NOW - 600 + 10 * i, 1000.0 + (b - bots / 2) * i) for i in range(60)]
        r = BotReport(bot=f"bot-{b:02d}", equity_curve=curve)
        if b == 0 and changes:
            states = ["closed", "open", "half_open"]
            r.risk.circuit_breaker_timeline = [
                (NOW - 600 + i, states[i % 3]) for i in range(changes + 1)
            ]
        reports.append(r)
    fleet = BotReport(bot="fleet")
    fleet.risk.circuit_breaker_timeline = [
        (ts, f"{r.bot}: {s}") for r in reports for ts, s in r.risk.circuit_breaker_timeline[1:]
    ]
    return DailyReport(
        date="2026-11-20",
        window_start=NOW - 86400,
        window_end=NOW,
        generated_at=NOW,
        fleet=fleet,
        bots=reports,
    )


def chart(page: str, label: str) -> str:
    start = page.index(f'aria-label="{label}')
    return page[start : page.index("</svg>", start)]


def test_past_fifteen_bots_the_legend_shows_ten_and_the_others_as_one_band() -> None:
    page = render_html(synthetic(30))
    equity = chart(page, "Equity by bot")
    lines = re.findall(r'<polyline fill="none" stroke="([^"]+)"[^>]*data-series="([^"]+)"', equity)
    assert len(lines) == MAX_LINES
    assert len({color for color, _ in lines}) == MAX_LINES  # no colour twice
    assert {color for color, _ in lines} <= set(PALETTE)
    # The five that gained most and the five that lost most (equity slopes with the id).
    assert {name for _, name in lines} == {f"bot-{b:02d}" for b in (*range(5), *range(25, 30))}
    assert equity.count("<polygon") == 1 and "20 others (their range)" in equity
    # The legend sits right of the plot, one row each: nothing drawn under it.
    legend_x = [float(x) for x in re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="14"', equity)]
    plot_right = max(float(x) for x in re.findall(r"([\d.]+),[\d.]+", equity))
    assert len(legend_x) == MAX_LINES + 1 and min(legend_x) > plot_right
    # Every bot still gets its line: one small chart each.
    multiples = page[page.index("one chart per bot") :]
    drawn = re.findall(r'data-series="(bot-\d+)" data-points="(\d+)"', multiples)
    assert sorted(b for b, _ in drawn) == [f"bot-{b:02d}" for b in range(30)]
    assert all(int(n) >= 2 for _, n in drawn)


def test_up_to_ten_bots_each_has_its_line_and_no_band() -> None:
    page = render_html(synthetic(MAX_LINES))
    equity = chart(page, "Equity by bot")
    assert equity.count("<polyline") == MAX_LINES and "<polygon" not in equity
    assert "one chart per bot" not in page


def test_hundreds_of_breaker_changes_make_one_short_line() -> None:
    report = synthetic(3, changes=600)
    text = render_text(report)
    risk = [line for line in text.splitlines() if line.startswith("RISK")]
    assert len(risk) == 4 and all(len(line) < 300 for line in risk), risk
    bot0 = risk[1]
    assert "600 change(s) (closed 200x, half_open 200x, open 200x)" in bot0
    assert "closed at the end" in bot0 and bot0.count(" open") < 10
    assert "600 change(s) in 1 bot(s) (bot-00 600)" in risk[0]
    # The HTML draws it: one strip for the one bot whose breaker was not always closed.
    strips = chart(render_html(report), "Circuit breaker")
    assert strips.count("<title>bot-00</title>") == 1 and strips.count("<rect") > 600


def test_many_troubled_breakers_are_listed_up_to_fifteen() -> None:
    report = synthetic(20)
    for r in report.bots:
        r.risk.circuit_breaker_timeline = [(NOW - 60, "closed"), (NOW - 30, "open")]
    strips = chart(render_html(report), "Circuit breaker")
    assert len(re.findall(r"<text x=\"4\"[^>]*><title>bot-", strips)) == 15
    assert "5 more bots with a breaker not closed" in strips
