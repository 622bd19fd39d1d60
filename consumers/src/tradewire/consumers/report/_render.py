"""The daily report as text (for a terminal or a chat), JSON, and self-contained HTML."""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from collections.abc import Sequence

import msgspec

from ._charts import MAX_LINES, Series, bar_chart, breaker_strips, line_chart, small_multiples
from ._model import BotReport, DailyReport

__all__ = ["render_html", "render_json", "render_text"]


def _t(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _m(x: float | None) -> str:
    return "N/A" if x is None else f"${x:,.2f}"


def _pct(x: float | None) -> str:
    return "N/A" if x is None else f"{x * 100:.1f}%"


def _n(x: float | None, digits: int = 3) -> str:
    return "N/A" if x is None else f"{x:.{digits}f}"


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _breaker(timeline: Sequence[tuple[float, str]], end: float) -> str:
    """The breaker timeline in a line: how often it changed and to what, how long it was
    not closed, where it ended, and the last few changes (the report's JSON has them all).

    A bot's timeline starts with its state at the window's first risk snapshot; the
    fleet's lists changes only, each labelled ``bot: state``."""
    if not timeline:
        return "no changes"
    if ": " in timeline[0][1]:  # the fleet's: changes of several bots
        per_bot = Counter(label.partition(": ")[0] for _, label in timeline)
        last: dict[str, str] = {}
        for _, label in timeline:
            bot, _, state = label.partition(": ")
            last[bot] = state
        most = ", ".join(f"{b} {n}" for b, n in per_bot.most_common(3))
        more = f" and {len(per_bot) - 3} more" if len(per_bot) > 3 else ""
        stuck = sorted(f"{b} ({st})" for b, st in last.items() if st != "closed")
        return f"{len(timeline)} change(s) in {len(per_bot)} bot(s) ({most}{more}); " + (
            f"not closed at the end: {', '.join(stuck)}" if stuck else "all closed at the end"
        )
    states = [st for _, st in timeline]
    changes = Counter(states[1:])
    away = sum(
        (timeline[i + 1][0] if i + 1 < len(timeline) else end) - ts
        for i, (ts, st) in enumerate(timeline)
        if st != "closed"
    )
    parts = [f"{states[0]} at {_t(timeline[0][0])[11:19]}"]
    if changes:
        parts.append(
            f"{len(states) - 1} change(s) ("
            + ", ".join(f"{st} {n}x" for st, n in sorted(changes.items()))
            + ")"
        )
    if away:
        parts.append(f"not closed for {_duration(away)}")
    parts.append(f"{states[-1]} at the end")
    if len(timeline) > 1:
        parts.append("last: " + ", ".join(f"{_t(ts)[11:19]} {st}" for ts, st in timeline[-3:][-3:]))
    return "; ".join(parts)


def _section(r: BotReport, end: float) -> list[str]:
    a, p, perf, t, h = r.account, r.pnl, r.performance, r.trades, r.health
    lines = [
        f"== {r.bot} ==",
        f"ACCOUNT      equity {_m(a.equity)}  change {_m(a.equity_change)}"
        + (f" ({a.equity_change_pct:+.2f}%)" if a.equity_change_pct is not None else ""),
        f"PnL          realized {_m(p.realized)}  unrealized {_m(p.unrealized)}  "
        f"funding {_m(p.funding)}  fees {_m(p.fees)}  total {_m(p.total)}",
        f"PERFORMANCE  win rate {_pct(perf.win_rate)}  profit factor {_n(perf.profit_factor, 2)}"
        f"  sharpe {_n(perf.sharpe_ratio, 2)}  max drawdown {_m(perf.max_drawdown)}"
        f" ({perf.max_drawdown_pct:.2f}%)",
        f"TRADES       fills {t.fills}  closing {t.closing}  won {t.winning}  lost {t.losing}"
        f"  avg win {_m(t.avg_win)}  avg loss {_m(t.avg_loss)}  best {_m(t.largest_win)}"
        f"  worst {_m(t.largest_loss)}",
    ]
    if r.symbols:
        lines.append(
            "TOP SYMBOLS  "
            + "; ".join(
                f"{s.symbol} {_m(s.realized)} ({s.fills} fills, win {_pct(s.win_rate)})"
                for s in r.symbols
            )
        )
    guards = ", ".join(f"{g} {n}" for g, n in r.risk.guard_triggers.items()) or "no guard triggers"
    breaker = _breaker(r.risk.circuit_breaker_timeline, end)
    lines.append(f"RISK         {guards}; circuit breaker: {breaker}")
    age = "none" if h.last_heartbeat_age_s is None else f"{h.last_heartbeat_age_s:.0f}s ago"
    lines.append(
        f"HEALTH       liveness {h.liveness} (heartbeat {age})  stale marks "
        f"{h.stale_marks}  ws reconnects {h.ws_reconnects}  unfilled orders "
        f"{h.unfilled_orders}  api errors {h.api_errors}"
    )
    o = r.orders
    lines.append(
        "ORDERS       "
        + (", ".join(f"{k} {v}" for k, v in o.by_status.items()) or "none")
        + (
            "; rejected: " + ", ".join(f"{k} {v}" for k, v in o.rejections.items())
            if o.rejections
            else ""
        )
    )
    for lat in o.broker_latency_s:
        lines.append(
            f"LATENCY      {lat.operation}: n={lat.count} p50 {lat.p50 * 1000:.0f} ms"
            f"  p95 {lat.p95 * 1000:.0f} ms  p99 {lat.p99 * 1000:.0f} ms"
        )
    c = r.cycles
    lines.append(
        f"CYCLES       {c.count} (errors {c.errors})  p50 {_ms(c.p50_s)}  p95 "
        f"{_ms(c.p95_s)}  max {_ms(c.max_s)}"
    )
    d = r.data_quality
    lines.append(
        f"DATA QUALITY checks {d.checks}  avg score {_n(d.avg_score, 2)}  min "
        f"{_n(d.min_score, 2)}  issues "
        + (", ".join(f"{k} {v}" for k, v in d.issues.items()) or "none")
    )
    alerts = ", ".join(f"{k} {v}" for k, v in r.alerts_fired.items()) or "none"
    lines.append(f"ALERTS       {alerts}")
    pl = r.pipeline
    quarantined = f"  quarantined {pl.quarantined}" if pl.quarantined is not None else ""
    lines.append(f"PIPELINE     events {pl.events}{quarantined}  lost (seq gaps) {pl.lost}")
    return lines


def _ms(x: float | None) -> str:
    return "N/A" if x is None else f"{x * 1000:.0f} ms"


def _title(report: DailyReport) -> str:
    return f"Daily Trading Report - {report.date}" + (f" - bot {report.bot}" if report.bot else "")


def render_text(report: DailyReport) -> str:
    head = [
        _title(report),
        f"Window: {_t(report.window_start)} .. {_t(report.window_end)}",
        f"Generated: {_t(report.generated_at)}",
        "",
    ]
    body = _section(report.fleet, report.window_end)
    for r in report.bots:
        body += ["", *_section(r, report.window_end)]
    return "\n".join(head + body) + "\n"


def render_json(report: DailyReport) -> str:
    return msgspec.json.format(msgspec.json.encode(report), indent=2).decode() + "\n"


# -- HTML with inline SVG charts (_charts) ----------------------------------------------
def _money(x: float) -> str:
    sign = "-" if x < 0 else ""
    return f"{sign}${abs(x):,.0f}" if abs(x) >= 1000 else f"{sign}${abs(x):,.2f}"


def _change(points: Sequence[tuple[float, float]]) -> float:
    """Relative change from the first to the last point (0 when it starts at 0)."""
    first, last = points[0][1], points[-1][1]
    return (last - first) / abs(first) if first else 0.0


def _best_and_worst(series: Sequence[Series]) -> list[Series]:
    """The half of MAX_LINES that gained most and the half that lost most."""
    ranked = sorted(series, key=lambda s: _change(s.points), reverse=True)
    half = MAX_LINES // 2
    return ranked[:half] + ranked[-(MAX_LINES - half) :]


def _deepest(series: Sequence[Series]) -> list[Series]:
    return sorted(series, key=lambda s: min(v for _, v in s.points))[:MAX_LINES]


def _drawdown(curve: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    peak = float("-inf")
    out = []
    for t, eq in curve:
        peak = max(peak, eq)
        out.append((t, -(peak - eq)))
    return out


def _charts(report: DailyReport) -> list[str]:
    scope = report.fleet.bot  # "fleet", or the bot of a one-bot report
    bots = report.bots or [report.fleet]
    equity = sorted(
        (
            Series(r.bot, r.equity_curve, f"{_change(r.equity_curve) * 100:+.2f}%")
            for r in bots
            if r.equity_curve
        ),
        key=lambda s: -_change(s.points),
    )
    drawdown = sorted(
        (
            Series(s.name, dd, _money(min(v for _, v in dd)))
            for s in equity
            if (dd := _drawdown(s.points))
        ),
        key=lambda s: min(v for _, v in s.points),
    )
    many = len(equity) > MAX_LINES
    charts = [
        line_chart(
            equity,
            "Equity by bot"
            + (f": the {MAX_LINES} best and worst of {len(equity)}" if many else ""),
            y_fmt=_money,
            pick=_best_and_worst,
        ),
        line_chart(
            drawdown,
            "Drawdown by bot ($, 0 = at peak)"
            + (f": the {MAX_LINES} deepest of {len(drawdown)}" if many else ""),
            y_fmt=_money,
            pick=_deepest,
        ),
    ]
    if many:
        charts.append(small_multiples(equity, "Equity, one chart per bot (each its own scale)"))
    ends = [r.equity_curve[-1][0] for r in bots if r.equity_curve]
    ends += [
        r.risk.circuit_breaker_timeline[-1][0] for r in bots if r.risk.circuit_breaker_timeline
    ]
    charts.append(
        breaker_strips(
            [
                (r.bot, r.risk.circuit_breaker_timeline)
                for r in bots
                if r.risk.circuit_breaker_timeline
            ],
            f"Circuit breaker ({scope}): bots whose breaker was not closed",
            end=max(ends) if ends else report.window_end,
        )
    )
    charts += [
        bar_chart(
            [(s.symbol, s.realized) for s in report.fleet.symbols],
            f"Realized PnL by symbol ({scope})",
            " $",
        ),
        bar_chart(
            [
                (f"{lat.operation} p{q}", v * 1000)
                for lat in report.fleet.orders.broker_latency_s
                for q, v in (("50", lat.p50), ("95", lat.p95), ("99", lat.p99))
            ],
            f"Broker latency ({scope})",
            " ms",
        ),
    ]
    return charts


def render_html(report: DailyReport) -> str:
    sections = "".join(
        f"<h2>{html.escape(r.bot)}</h2>"
        f"<pre>{html.escape(chr(10).join(_section(r, report.window_end)[1:]))}</pre>"
        for r in [report.fleet, *report.bots]
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(_title(report))}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#111}"
        "pre{background:#f6f8fa;padding:.8em;white-space:pre-wrap;font-size:12px}"
        "svg{display:block;margin:1em 0;background:#fcfcfd;border:1px solid #e5e7eb;"
        "max-width:100%;height:auto}"
        ".multiples svg{margin:0}h3{font-size:15px;margin:1.2em 0 .4em}"
        "</style></head><body>"
        f"<h1>{html.escape(_title(report))}</h1>"
        f"<p>Window {_t(report.window_start)} to {_t(report.window_end)}; generated "
        f"{_t(report.generated_at)}. Charts in UTC.</p>"
        + "".join(_charts(report))
        + sections
        + "</body></html>\n"
    )
