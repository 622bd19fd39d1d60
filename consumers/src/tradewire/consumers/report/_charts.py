"""Inline SVG charts for the HTML report: lines with a legend beside the plot (never over
it), small multiples, bars and breaker timelines. No script, no external file.

Past ``MAX_LINES`` series a line chart shows the most notable ones (the caller ranks
them: e.g. the best and the worst performers) in distinct colours, and the rest as one
grey band (their range at each time) labelled with how many they are; small multiples
then give every bot its own chart.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_LINES",
    "PALETTE",
    "Series",
    "bar_chart",
    "breaker_strips",
    "line_chart",
    "small_multiples",
]

Points = Sequence[tuple[float, float]]
Fmt = Callable[[float], str]

MAX_LINES = 10
# Ten colours told apart on white (Tableau's 10, grey swapped for indigo: grey is "others").
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#393b79",
    "#bcbd22",
)
OTHERS = "#9aa5b1"
BREAKER_COLORS = {"closed": "#cfe8d5", "half_open": "#f2b134", "open": "#d62728"}
_W, _H = 920, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 78, 220, 30, 26  # plot margins; the legend is in _RIGHT
_FONT = 'font-family="system-ui,sans-serif"'


@dataclass(frozen=True)
class Series:
    name: str
    points: Points
    note: str = ""  # shown after the name in the legend, e.g. "+1.2%"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _short(name: str, width: int = 24) -> str:
    return name if len(name) <= width else name[: width - 1] + "\u2026"


def _time_fmt(span: float) -> Callable[[float], str]:
    fmt = "%H:%M:%S" if span < 3 * 3600 else "%m-%d %H:%M" if span > 86400 else "%H:%M"
    return lambda ts: dt.datetime.fromtimestamp(ts, dt.UTC).strftime(fmt)


def _frame(title: str, x: tuple[float, float], y: tuple[float, float], y_fmt: Fmt) -> list[str]:
    """The SVG's opening, title, grid and axis labels (times in UTC)."""
    (x0, x1), (y0, y1) = x, y
    out = [
        f'<svg viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{_e(title)}" {_FONT}>',
        f'<text x="4" y="17" font-size="14" font-weight="600">{_e(title)}</text>',
    ]
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    for f in (0.0, 0.5, 1.0):
        py = _TOP + (1 - f) * plot_h
        out.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{py:.1f}" y2="{py:.1f}" '
            f'stroke="{"#c3cad1" if f == 0 else "#eceff2"}"/>'
            f'<text x="{_LEFT - 6}" y="{py + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#4b5563">{_e(y_fmt(y0 + f * (y1 - y0)))}</text>'
        )
    when = _time_fmt(x1 - x0)
    for f, anchor in ((0.0, "start"), (0.5, "middle"), (1.0, "end")):
        px = _LEFT + f * plot_w
        out.append(
            f'<text x="{px:.1f}" y="{_H - 8}" font-size="11" text-anchor="{anchor}" '
            f'fill="#4b5563">{when(x0 + f * (x1 - x0))}</text>'
        )
    return out


def _scale(x0: float, x1: float, y0: float, y1: float) -> tuple[Fmt, Fmt]:
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    xs, ys = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    return (
        lambda x: f"{_LEFT + (x - x0) / xs * plot_w:.1f}",
        lambda y: f"{_TOP + (1 - (y - y0) / ys) * plot_h:.1f}",
    )


def _y_range(values: Sequence[float]) -> tuple[float, float]:
    y0, y1 = min(values), max(values)
    mag = max(abs(y0), abs(y1))
    if y1 - y0 <= mag * 1e-9:  # flat: centre it rather than magnify rounding
        pad = mag * 0.01 or 1.0
        return y0 - pad, y1 + pad
    return y0, y1


def _band(others: Sequence[Series]) -> list[tuple[float, float, float]]:
    """(time, lowest, highest) of the other series at each time any of them has."""
    lo: dict[float, float] = {}
    hi: dict[float, float] = {}
    for s in others:
        for t, v in s.points:
            lo[t] = min(lo.get(t, v), v)
            hi[t] = max(hi.get(t, v), v)
    return [(t, lo[t], hi[t]) for t in sorted(lo)]


def line_chart(
    series: Sequence[Series],
    title: str,
    *,
    y_fmt: Fmt,
    pick: Callable[[Sequence[Series]], list[Series]] | None = None,
) -> str:
    """One line per series, up to :data:`MAX_LINES`; past that ``pick`` chooses which
    (default: the first ones), the rest are a grey band. Each polyline carries
    ``data-series`` (its name) and ``data-points`` (how many it has)."""
    series = [s for s in series if s.points]
    if not series:
        return f"<p><em>{_e(title)}: no data</em></p>"
    if len(series) > MAX_LINES:
        shown = (pick or (lambda s: list(s[:MAX_LINES])))(series)[:MAX_LINES]
        names = {s.name for s in shown}
        others = [s for s in series if s.name not in names]
    else:
        shown, others = list(series), []
    pts = [p for s in series for p in s.points]
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = _y_range([p[1] for p in pts])
    X, Y = _scale(x0, x1, y0, y1)
    out = _frame(title, (x0, x1), (y0, y1), y_fmt)
    legend_x = _W - _RIGHT + 16
    row = 0
    if others:
        band = _band(others)
        outline = [f"{X(t)},{Y(h)}" for t, _, h in band] + [
            f"{X(t)},{Y(lo)}" for t, lo, _ in reversed(band)
        ]
        out.append(
            f'<polygon points="{" ".join(outline)}" fill="{OTHERS}" fill-opacity="0.35" '
            f'stroke="{OTHERS}" stroke-width="0.5"><title>{len(others)} other bots: the '
            "range they span</title></polygon>"
        )
    for i, s in enumerate(shown):
        color = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{X(t)},{Y(v)}" for t, v in s.points)
        out.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.8" '
            f'data-series="{_e(s.name)}" data-points="{len(s.points)}" points="{coords}">'
            f"<title>{_e(s.name)}</title></polyline>"
        )
        if len(s.points) == 1:  # a single point is no line: mark it
            t, v = s.points[0]
            out.append(f'<circle cx="{X(t)}" cy="{Y(v)}" r="3" fill="{color}"/>')
    for i, s in enumerate(shown):
        y = _TOP + 4 + 16 * row
        color = PALETTE[i % len(PALETTE)]
        out.append(
            f'<rect x="{legend_x}" y="{y}" width="14" height="4" fill="{color}"/>'
            f'<text x="{legend_x + 20}" y="{y + 6}" font-size="11"><title>{_e(s.name)}</title>'
            f"{_e(_short(s.name))}"
            + (f' <tspan fill="#62707d">{_e(s.note)}</tspan>' if s.note else "")
            + "</text>"
        )
        row += 1
    if others:
        y = _TOP + 4 + 16 * row
        out.append(
            f'<rect x="{legend_x}" y="{y - 2}" width="14" height="8" fill="{OTHERS}" '
            f'fill-opacity="0.5"/><text x="{legend_x + 20}" y="{y + 6}" font-size="11">'
            f"{len(others)} others (their range)</text>"
        )
    out.append("</svg>")
    return "".join(out)


def small_multiples(series: Sequence[Series], title: str, *, max_points: int = 60) -> str:
    """One small chart per series (each on its own scale), in a wrapping grid."""
    series = [s for s in series if s.points]
    if not series:
        return ""
    w, h, pad = 176, 58, 4
    cells = []
    for s in series:
        step = max(1, -(-len(s.points) // max_points))
        pts = list(s.points[::step])
        if pts[-1] != s.points[-1]:
            pts.append(s.points[-1])
        xs = [p[0] for p in pts]
        y0, y1 = _y_range([p[1] for p in pts])
        x0, x1 = xs[0], xs[-1] if xs[-1] != xs[0] else xs[0] + 1
        coords = " ".join(
            f"{pad + (t - x0) / (x1 - x0) * (w - 2 * pad):.1f},"
            f"{18 + (1 - (v - y0) / (y1 - y0)) * (h - 22):.1f}"
            for t, v in pts
        )
        cells.append(
            f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
            f'aria-label="{_e(s.name)}" {_FONT}>'
            f'<text x="{pad}" y="12" font-size="11"><title>{_e(s.name)}</title>'
            f"{_e(_short(s.name, 17))}</text>"
            f'<text x="{w - pad}" y="12" font-size="11" text-anchor="end" fill="#62707d">'
            f"{_e(s.note)}</text>"
            f'<polyline fill="none" stroke="{PALETTE[0]}" stroke-width="1.4" '
            f'data-series="{_e(s.name)}" data-points="{len(pts)}" points="{coords}"/></svg>'
        )
    return (
        f'<h3>{_e(title)}</h3><div class="multiples" style="display:flex;flex-wrap:wrap;'
        f'gap:6px">{"".join(cells)}</div>'
    )


def bar_chart(items: Sequence[tuple[str, float]], title: str, unit: str = "") -> str:
    """Horizontal bars around a zero line: green for gains, red for losses."""
    if not items:
        return f"<p><em>{_e(title)}: no data</em></p>"
    top = max(abs(v) for _, v in items) or 1.0
    h = 18 * len(items) + 28
    label_w, value_w = 170, 110
    mid = label_w + (_W - label_w - value_w) / 2
    half = (_W - label_w - value_w) / 2 - 4
    out = [
        f'<svg viewBox="0 0 {_W} {h}" width="{_W}" height="{h}" role="img" '
        f'aria-label="{_e(title)}" {_FONT}>',
        f'<text x="4" y="17" font-size="14" font-weight="600">{_e(title)}</text>',
        f'<line x1="{mid}" x2="{mid}" y1="24" y2="{h - 2}" stroke="#c3cad1"/>',
    ]
    for i, (label, v) in enumerate(items):
        y = 26 + 18 * i
        width = abs(v) / top * half
        x = mid if v >= 0 else mid - width
        color = "#2ca02c" if v >= 0 else "#d62728"
        out.append(
            f'<text x="4" y="{y + 11}" font-size="11"><title>{_e(label)}</title>'
            f"{_e(_short(label))}</text>"
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="13" fill="{color}">'
            f"<title>{_e(label)}: {v:,.4g}{_e(unit)}</title></rect>"
            f'<text x="{_W - 4}" y="{y + 11}" font-size="11" text-anchor="end">'
            f"{v:,.4g}{_e(unit)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def breaker_strips(
    timelines: Sequence[tuple[str, Sequence[tuple[float, str]]]],
    title: str,
    *,
    end: float,
    max_rows: int = 15,
) -> str:
    """One strip per bot that was ever not closed: its breaker state over time. The
    bots open longest come first; past ``max_rows`` a line says how many more."""

    def open_time(tl: Sequence[tuple[float, str]]) -> float:
        return sum(
            (tl[i + 1][0] if i + 1 < len(tl) else end) - ts
            for i, (ts, state) in enumerate(tl)
            if state != "closed"
        )

    troubled = [(bot, tl) for bot, tl in timelines if any(s != "closed" for _, s in tl)]
    if not troubled:
        return ""
    troubled.sort(key=lambda item: (-open_time(item[1]), item[0]))
    rows = troubled[:max_rows]
    x0 = min(tl[0][0] for _, tl in rows)
    x1 = max(end, *(tl[-1][0] for _, tl in rows))
    xs = (x1 - x0) or 1.0
    label_w, row_h = 170, 18
    plot_w = _W - label_w - 10
    top = 44  # the title, then the colour key, then one row per bot
    h = top + 16 + row_h * len(rows) + (16 if len(troubled) > max_rows else 0)
    out = [
        f'<svg viewBox="0 0 {_W} {h}" width="{_W}" height="{h}" role="img" '
        f'aria-label="{_e(title)}" {_FONT}>',
        f'<text x="4" y="17" font-size="14" font-weight="600">{_e(title)}</text>',
    ]
    lx = 4
    for state, color in BREAKER_COLORS.items():
        out.append(
            f'<rect x="{lx}" y="25" width="12" height="10" fill="{color}"/>'
            f'<text x="{lx + 16}" y="34" font-size="11">{state}</text>'
        )
        lx += 90
    for r, (bot, tl) in enumerate(rows):
        y = top + row_h * r
        out.append(
            f'<text x="4" y="{y + 12}" font-size="11"><title>{_e(bot)}</title>'
            f"{_e(_short(bot))}</text>"
        )
        for i, (ts, state) in enumerate(tl):
            t_end = tl[i + 1][0] if i + 1 < len(tl) else x1
            x = label_w + (ts - x0) / xs * plot_w
            width = max(0.5, (t_end - ts) / xs * plot_w)
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{row_h - 4}" '
                f'fill="{BREAKER_COLORS.get(state, OTHERS)}"><title>{_e(bot)}: {_e(state)}'
                "</title></rect>"
            )
    when = _time_fmt(x1 - x0)
    y = top + row_h * len(rows) + 10
    out.append(
        f'<text x="{label_w}" y="{y}" font-size="11" fill="#4b5563">{when(x0)}</text>'
        f'<text x="{_W - 10}" y="{y}" font-size="11" text-anchor="end" fill="#4b5563">'
        f"{when(x1)}</text>"
    )
    if len(troubled) > max_rows:
        out.append(
            f'<text x="4" y="{y + 14}" font-size="11" fill="#4b5563">'
            f"{len(troubled) - max_rows} more bots with a breaker not closed at some point: "
            "see their sections</text>"
        )
    out.append("</svg>")
    return "".join(out)
