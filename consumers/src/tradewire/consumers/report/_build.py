"""Compute the daily report with a handful of grouped SQL queries over the store.

Every query groups by ``GROUPING SETS ((bot), ())``: one row per bot and one
(bot NULL) for the whole fleet, so the fleet figures are computed by DuckDB
over all events, not summed from rounded per-bot values.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ._model import (
    BotReport,
    DailyReport,
    Latency,
    SymbolRow,
)

__all__ = ["Runner", "build_report", "window"]

Runner = Callable[[str], Awaitable[list[list[Any]]]]
FLEET = "__fleet__"
LIVENESS_MAX_AGE_S = 300.0
STALE_MARK_S = 30.0  # the least gap between two marks that counts as stale
STALE_MARK_INTERVALS = 2.0  # ... or this many of the bot's usual (median) mark intervals
UNFILLED_AFTER_S = 300.0
CURVE_POINTS = 300  # equity-curve buckets over the span of the snapshots
_BOT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def window(date: str | None, lookback_hours: float, now: float) -> tuple[str, float, float]:
    """(date, start, end) of the report, in UTC.

    Without ``date``: the ``lookback_hours`` up to now, titled today. With one: the
    ``lookback_hours`` up to the end of that day, cut at now while the day is still on
    (so ``--date`` today covers today so far). A day that has not begun is an error.
    """
    if date is None:
        today = dt.datetime.fromtimestamp(now, dt.UTC).date()
        return today.isoformat(), now - lookback_hours * 3600.0, now
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        raise ValueError(f"--date {date!r}: use YYYY-MM-DD") from None
    start_of_day = dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()
    if start_of_day > now:
        raise ValueError(f"--date {day.isoformat()} has not begun yet (UTC): nothing to report")
    end_of_day = start_of_day + 86400.0
    return day.isoformat(), end_of_day - lookback_hours * 3600.0, min(end_of_day, now)


async def _check_bot(run: Runner, bot: str) -> None:
    """An unknown bot is a typo far more often than a quiet bot: say so, with the known ones."""
    if await run(f"SELECT 1 FROM events WHERE bot = '{bot}' LIMIT 1"):
        return
    known = [str(b) for (b,) in await run("SELECT DISTINCT bot FROM events ORDER BY bot LIMIT 21")]
    listed = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
    raise ValueError(f"no events from bot {bot!r} in the store (bots: {listed or 'none'})")


def _f(x: Any) -> float:
    return float(x) if x is not None else 0.0


async def build_report(
    run: Runner,
    *,
    date: str | None = None,
    lookback_hours: float = 24.0,
    bot: str | None = None,
    now: float | None = None,
    stale_mark_after_s: Mapping[str, float] | None = None,
) -> DailyReport:
    """``stale_mark_after_s``: per bot id (``*`` for every bot), the gap between two marks
    of a symbol that counts as a stale mark; by default the larger of 30 s and twice the
    bot's median mark interval in the window, so a bot that marks every 60 s is not stale
    between its marks."""
    if bot is not None and not _BOT.match(bot):
        raise ValueError(f"invalid bot id {bot!r}")
    stale_after = dict(stale_mark_after_s or {})
    for key, seconds in stale_after.items():
        if key != "*" and not _BOT.match(key):
            raise ValueError(f"invalid bot id {key!r} for the stale-mark gap")
        if not 0 < seconds < float("inf"):
            raise ValueError(f"stale-mark gap for {key} must be a positive number of seconds")
    if not 0 < lookback_hours <= 24 * 31:
        raise ValueError("lookback hours must be > 0 and at most 744")
    now = time.time() if now is None else now
    day, start, end = window(date, lookback_hours, now)
    if bot is not None:
        await _check_bot(run, bot)
    # Only numbers and a validated bot id are put into SQL text.
    w = f"ts >= {start!r} AND ts < {end!r}" + (f" AND bot = '{bot}'" if bot else "")
    gs = "GROUP BY GROUPING SETS ((bot), ())"
    reports: dict[str, BotReport] = {}

    def rep(b: Any) -> BotReport:
        key = FLEET if b is None else str(b)
        if key not in reports:
            reports[key] = BotReport(bot="fleet" if b is None else str(b))
        return reports[key]

    for (b,) in await run(f"SELECT DISTINCT bot FROM events WHERE {w} ORDER BY bot"):
        rep(b)
    rep(None)

    # Account and PnL from account snapshots.
    for b, eq, eq0, unreal, fund, fund0 in await run(
        f"SELECT bot, sum(eq), sum(eq0), sum(unreal), sum(fund), sum(fund0) FROM ("
        f" SELECT bot, arg_max(equity, ts) eq, arg_min(equity, ts) eq0,"
        f" arg_max(unrealized_pnl, ts) unreal, arg_max(funding_pnl, ts) fund,"
        f" arg_min(funding_pnl, ts) fund0 FROM account_snapshots WHERE {w} GROUP BY bot"
        f") {gs}"
    ):
        r = rep(b)
        r.account.equity, r.account.equity_start = eq, eq0
        if eq is not None and eq0 is not None:
            r.account.equity_change = eq - eq0
            r.account.equity_change_pct = (eq - eq0) / eq0 * 100 if eq0 else None
        r.pnl.unrealized, r.pnl.funding = _f(unreal), _f(fund) - _f(fund0)

    # Fills: realized PnL, fees, trade statistics.
    for row in await run(
        f"SELECT bot, sum(realized_pnl), sum(fee), count(*),"
        f" count(*) FILTER (realized_pnl <> 0), count(*) FILTER (realized_pnl > 0),"
        # fsum (compensated): the same figures to the last bit whatever order the rows
        # are stored or scanned in, and as close to the exact sum as a double gets.
        f" count(*) FILTER (realized_pnl < 0),"
        f" fsum(realized_pnl) FILTER (realized_pnl > 0),"
        f" fsum(realized_pnl) FILTER (realized_pnl < 0), max(realized_pnl) FILTER"
        f" (realized_pnl > 0), min(realized_pnl) FILTER (realized_pnl < 0),"
        f" avg(realized_pnl) FILTER (realized_pnl <> 0),"
        f" stddev_pop(realized_pnl) FILTER (realized_pnl <> 0)"
        f" FROM fills WHERE {w} {gs}"
    ):
        b, realized, fees, n, closing, wins, losses, won, lost, best, worst, mean, std = row
        r = rep(b)
        r.pnl.realized, r.pnl.fees = _f(realized), _f(fees)
        t = r.trades
        t.fills, t.closing, t.winning, t.losing = n, closing, wins, losses
        t.avg_win = won / wins if wins else None
        t.avg_loss = lost / losses if losses else None
        t.largest_win, t.largest_loss = best, worst
        p = r.performance
        p.win_rate = wins / closing if closing else None
        p.profit_factor = _f(won) / -lost if losses and lost else None
        p.sharpe_ratio = mean / std if closing >= 2 and std else None
    for r in reports.values():
        r.pnl.total = r.pnl.realized - r.pnl.fees + r.pnl.funding + r.pnl.unrealized

    # Max drawdown on each bot's equity; the fleet row shows the worst bot.
    for b, dd, dd_pct in await run(
        f"SELECT bot, max(peak - equity), max((peak - equity) / peak * 100) FROM ("
        f" SELECT bot, equity, max(equity) OVER (PARTITION BY bot ORDER BY ts"
        f" ROWS UNBOUNDED PRECEDING) peak FROM account_snapshots WHERE {w}) GROUP BY bot"
    ):
        perf = rep(b).performance
        perf.max_drawdown, perf.max_drawdown_pct = _f(dd), _f(dd_pct)
        worst = rep(None).performance
        worst.max_drawdown = max(worst.max_drawdown, perf.max_drawdown)
        worst.max_drawdown_pct = max(worst.max_drawdown_pct, perf.max_drawdown_pct)

    # Equity curve: the last equity per time bucket, at most ~300 buckets over the span
    # the snapshots cover (not the window: a 2-minute run in a 24-hour window still
    # draws a line), counted from the first snapshot.
    span = await run(f"SELECT min(ts), max(ts) FROM account_snapshots WHERE {w}")
    first, last = span[0] if span else (None, None)
    if first is not None and last is not None:
        bucket = max((float(last) - float(first)) / CURVE_POINTS, 1e-3)
        t0 = float(first)
        for b, t_, eq in await run(
            f"SELECT bot, {t0!r} + floor((ts - {t0!r}) / {bucket!r}) * {bucket!r} AS t,"
            f" arg_max(equity, ts) FROM account_snapshots WHERE {w}"
            f" GROUP BY bot, t ORDER BY bot, t"
        ):
            rep(b).equity_curve.append((float(t_), float(eq)))

    # Top symbols by realized PnL.
    for b, sym, realized, n, wins, closing, notional in await run(
        f"SELECT bot, symbol, sum(realized_pnl), count(*), count(*) FILTER (realized_pnl > 0),"
        f" count(*) FILTER (realized_pnl <> 0), sum(qty * price) FROM fills WHERE {w}"
        f" GROUP BY GROUPING SETS ((bot, symbol), (symbol)) ORDER BY 3 DESC"
    ):
        r = rep(b)
        if len(r.symbols) < 10:
            r.symbols.append(
                SymbolRow(sym, _f(realized), n, wins / closing if closing else None, _f(notional))
            )

    # Risk: guard trips, circuit-breaker changes.
    for b, guard, n in await run(
        f"SELECT bot, guard, count(*) FROM guards WHERE {w} AND action = 'tripped'"
        f" GROUP BY GROUPING SETS ((bot, guard), (guard)) ORDER BY 3 DESC"
    ):
        rep(b).risk.guard_triggers[guard] = n
    for b, t_, state, prev in await run(
        f"SELECT bot, ts, circuit_breaker, prev FROM (SELECT bot, ts, circuit_breaker,"
        f" lag(circuit_breaker) OVER (PARTITION BY bot ORDER BY ts) prev FROM risk_snapshots"
        f" WHERE {w}) WHERE prev IS NULL OR prev <> circuit_breaker ORDER BY ts"
    ):
        rep(b).risk.circuit_breaker_timeline.append((float(t_), state))
        if prev is not None or state != "closed":  # the fleet lists changes, not starts
            # One bot's report (--bot) is that bot's timeline, with no name to tell apart.
            label = state if bot else f"{b}: {state}"
            rep(None).risk.circuit_breaker_timeline.append((float(t_), label))

    # Health. Stale marks: the bot's own stale_mark events, plus each gap between two marks
    # of a symbol longer than the bot's threshold that no stale_mark event of it explains.
    override = " ".join(
        f"WHEN '{b}' THEN {v!r}" for b, v in stale_after.items() if b != "*"
    )  # validated ids and finite numbers only
    default = repr(stale_after["*"]) if "*" in stale_after else "t.usual"
    threshold = f"CASE m.bot {override} ELSE {default} END" if override else default
    for b, n in await run(
        f"WITH m AS (SELECT bot, symbol, ts, lag(ts) OVER (PARTITION BY bot, symbol"
        f" ORDER BY ts) prev FROM marks WHERE {w}),"
        f" t AS (SELECT bot, greatest({STALE_MARK_S!r}, {STALE_MARK_INTERVALS!r}"
        f" * median(ts - prev)) usual FROM m WHERE prev IS NOT NULL GROUP BY bot)"
        f" SELECT bot, count(*) FROM (SELECT bot FROM stale_marks WHERE {w} UNION ALL"
        f" SELECT m.bot FROM m JOIN t ON m.bot = t.bot WHERE m.ts - m.prev > {threshold}"
        f" AND NOT EXISTS (SELECT 1 FROM stale_marks s WHERE s.bot = m.bot"
        f" AND s.symbol = m.symbol AND s.ts > m.prev AND s.ts <= m.ts)) {gs}"
    ):
        rep(b).health.stale_marks = n
    for b, n in await run(
        f"SELECT bot, count(*) FROM ws_events WHERE {w} AND state = 'reconnecting' {gs}"
    ):
        rep(b).health.ws_reconnects = n
    # Unfilled orders: those the bot reported (unfilled_order), and those whose last status
    # is still open and that were first seen over 300 s before the end; each order once.
    for b, n in await run(
        f"SELECT bot, count(*) FROM (SELECT bot, order_id FROM unfilled_orders WHERE {w}"
        f" UNION SELECT bot, order_id FROM (SELECT bot, order_id, arg_max(status, ts)"
        f" AS last_status, min(ts) AS first_ts FROM orders WHERE {w} AND order_id <> ''"
        f" GROUP BY bot, order_id) WHERE last_status IN ('submitted', 'accepted',"
        f" 'partially_filled') AND first_ts < {end - UNFILLED_AFTER_S!r}) {gs}"
    ):
        rep(b).health.unfilled_orders = n
    # API errors: failed broker calls, and errors a bot files under component `api`
    # (GPT-Trader's api_error rows: its API-health guard failed).
    for b, n in await run(
        f"SELECT bot, count(*) FROM (SELECT bot FROM broker_calls WHERE {w}"
        f" AND outcome = 'failure' UNION ALL SELECT bot FROM errors WHERE {w}"
        f" AND component = 'api') {gs}"
    ):
        rep(b).health.api_errors = n
    hb_filter = f"ts < {end!r}" + (f" AND bot = '{bot}'" if bot else "")
    for b, last in await run(f"SELECT bot, max(ts) FROM heartbeats WHERE {hb_filter} {gs}"):
        h = rep(b).health
        if last is not None:
            h.last_heartbeat_age_s = end - float(last)
            h.liveness = "GREEN" if h.last_heartbeat_age_s <= LIVENESS_MAX_AGE_S else "RED"

    # Orders and broker latency.
    for b, status, n in await run(
        f"SELECT bot, status, count(*) FROM orders WHERE {w}"
        f" GROUP BY GROUPING SETS ((bot, status), (status)) ORDER BY 3 DESC"
    ):
        rep(b).orders.by_status[status] = n
    for b, reason, n in await run(
        f"SELECT bot, reason, count(*) FROM orders WHERE {w} AND status = 'rejected'"
        f" GROUP BY GROUPING SETS ((bot, reason), (reason)) ORDER BY 3 DESC"
    ):
        rep(b).orders.rejections[reason] = n
    for b, op, n, q in await run(
        f"SELECT bot, operation, count(*), quantile_cont(latency_s, [0.5, 0.95, 0.99])"
        f" FROM broker_calls WHERE {w}"
        f" GROUP BY GROUPING SETS ((bot, operation), (operation)) ORDER BY 2"
    ):
        rep(b).orders.broker_latency_s.append(Latency(op, n, q[0], q[1], q[2]))

    # Cycles.
    for b, n, errors, q, mx in await run(
        f"SELECT bot, count(*), count(*) FILTER (NOT ok), quantile_cont(duration_s, [0.5, 0.95]),"
        f" max(duration_s) FROM cycles WHERE {w} {gs}"
    ):
        c = rep(b).cycles
        c.count, c.errors, c.max_s = n, errors, mx
        if q is not None:
            c.p50_s, c.p95_s = q[0], q[1]

    # Data quality.
    for b, n, avg, mn in await run(
        f"SELECT bot, count(*), avg(score), min(score) FROM data_quality WHERE {w} {gs}"
    ):
        d = rep(b).data_quality
        d.checks, d.avg_score, d.min_score = n, avg, mn
    for b, issue, n in await run(
        f"SELECT bot, i.issue_type, sum(i.count) FROM (SELECT bot, unnest(issues) i"
        f" FROM data_quality WHERE {w}) GROUP BY GROUPING SETS ((bot, i.issue_type),"
        f" (i.issue_type))"
    ):
        rep(b).data_quality.issues[issue] = int(n)

    # Alerts fired: firing episodes (an escalation to critical is the same episode).
    for b, rule, n in await run(
        f"SELECT bot, rule, count(DISTINCT coalesce(fingerprint, id) || ':'"
        f" || coalesce(active_since, ts)) FROM alerts WHERE {w} AND state = 'firing'"
        f" GROUP BY GROUPING SETS ((bot, rule), (rule))"
    ):
        rep(b).alerts_fired[rule] = n

    # Pipeline: events stored, quarantined, lost (seq holes in the runs seen).
    for b, n in await run(f"SELECT bot, count(*) FROM events WHERE {w} {gs}"):
        rep(b).pipeline.events = n
    # seq starts at 1 and ids are unique, so a run's holes number max(seq) - count(*):
    # an aggregate, where the seq_gaps view would sort every event of the run.
    for b, n in await run(
        f"SELECT bot, sum(missing) FROM (SELECT bot, run, max(seq) - count(*) AS missing"
        f" FROM events WHERE run IN (SELECT DISTINCT run FROM events WHERE {w})"
        f" GROUP BY bot, run) {gs}"
    ):
        rep(b).pipeline.lost = int(n or 0)
    if bot is None:  # a quarantined message has no trusted bot: a fleet figure only
        rows = await run(
            f"SELECT count(*) FROM quarantine WHERE received_at >= {start!r}"
            f" AND received_at < {end!r}"
        )
        rep(None).pipeline.quarantined = rows[0][0] if rows else 0

    fleet = reports.pop(FLEET)
    if bot is not None:  # the whole report is that bot's: one section, under its name
        fleet.bot = bot
        reports.clear()
    return DailyReport(
        date=day,
        window_start=start,
        window_end=end,
        generated_at=now,
        fleet=fleet,
        bots=sorted(reports.values(), key=lambda r: r.bot),
        bot=bot,
    )
