"""The daily report as text (for a terminal or a chat), JSON, and self-contained HTML."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence

import msgspec

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


def _section(r: BotReport) -> list[str]:
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
    breaker = ", ".join(f"{_t(ts)[11:19]} {s}" for ts, s in r.risk.circuit_breaker_timeline)
    lines.append(f"RISK         {guards}; circuit breaker: {breaker or 'no changes'}")
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
    body = _section(report.fleet)
    for r in report.bots:
        body += ["", *_section(r)]
    return "\n".join(head + body) + "\n"


def render_json(report: DailyReport) -> str:
    return msgspec.json.format(msgspec.json.encode(report), indent=2).decode() + "\n"


# -- HTML with inline SVG ------------------------------------------------------------
_W, _H, _PAD = 640, 180, 36
_COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")


def _svg_lines(series: Sequence[tuple[str, Sequence[tuple[float, float]]]], title: str) -> str:
    pts = [p for _, s in series for p in s]
    if not pts:
        return f"<p><em>{html.escape(title)}: no data</em></p>"
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    xs, ys = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    out = [
        f'<svg width="{_W}" height="{_H}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="4" y="14" font-size="12">{html.escape(title)}</text>',
        f'<text x="4" y="{_PAD}" font-size="10">{y1:,.2f}</text>',
        f'<text x="4" y="{_H - 4}" font-size="10">{y0:,.2f}</text>',
    ]
    for i, (name, s) in enumerate(series):
        coords = " ".join(
            f"{_PAD + 40 + (x - x0) / xs * (_W - _PAD - 50):.1f},"
            f"{_H - 12 - (y - y0) / ys * (_H - _PAD - 12):.1f}"
            for x, y in s
        )
        color = _COLORS[i % len(_COLORS)]
        out.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
            f'points="{coords}"><title>{html.escape(name)}</title></polyline>'
        )
        out.append(
            f'<text x="{_W - 150}" y="{14 + 12 * i}" font-size="10" fill="{color}">'
            f"{html.escape(name)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _svg_bars(items: Sequence[tuple[str, float]], title: str, unit: str = "") -> str:
    if not items:
        return f"<p><em>{html.escape(title)}: no data</em></p>"
    top = max(abs(v) for _, v in items) or 1.0
    h = 18 * len(items) + 24
    mid = _W / 2
    out = [
        f'<svg width="{_W}" height="{h}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="4" y="14" font-size="12">{html.escape(title)}</text>',
    ]
    for i, (label, v) in enumerate(items):
        y = 22 + 18 * i
        width = abs(v) / top * (mid - 120)
        x = mid if v >= 0 else mid - width
        color = "#16a34a" if v >= 0 else "#dc2626"
        out.append(f'<text x="4" y="{y + 11}" font-size="10">{html.escape(label)}</text>')
        out.append(
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="13" fill="{color}">'
            f"<title>{html.escape(label)}: {v:,.4g}{unit}</title></rect>"
        )
        out.append(
            f'<text x="{mid + (mid - 110) + 4}" y="{y + 11}" font-size="10">{v:,.4g}{unit}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _drawdown(curve: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    peak = float("-inf")
    out = []
    for t, eq in curve:
        peak = max(peak, eq)
        out.append((t, -(peak - eq)))
    return out


def render_html(report: DailyReport) -> str:
    scope = report.fleet.bot  # "fleet", or the bot of a one-bot report
    curves = [(r.bot, r.equity_curve) for r in report.bots or [report.fleet] if r.equity_curve]
    charts = [
        _svg_lines(curves, "Equity by bot"),
        _svg_lines([(n, _drawdown(c)) for n, c in curves], "Drawdown by bot ($, 0 = at peak)"),
        _svg_bars(
            [(s.symbol, s.realized) for s in report.fleet.symbols],
            f"Realized PnL by symbol ({scope})",
            " $",
        ),
        _svg_bars(
            [
                (f"{lat.operation} p{q}", v * 1000)
                for lat in report.fleet.orders.broker_latency_s
                for q, v in (("50", lat.p50), ("95", lat.p95), ("99", lat.p99))
            ],
            f"Broker latency ({scope})",
            " ms",
        ),
    ]
    sections = "".join(
        f"<h2>{html.escape(r.bot)}</h2><pre>{html.escape(chr(10).join(_section(r)[1:]))}</pre>"
        for r in [report.fleet, *report.bots]
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(_title(report))}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#111}"
        "pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:12px}"
        "svg{display:block;margin:1em 0;background:#fcfcfd;border:1px solid #e5e7eb}"
        "</style></head><body>"
        f"<h1>{html.escape(_title(report))}</h1>"
        f"<p>Window {_t(report.window_start)} to {_t(report.window_end)}; generated "
        f"{_t(report.generated_at)}.</p>" + "".join(charts) + sections + "</body></html>\n"
    )
