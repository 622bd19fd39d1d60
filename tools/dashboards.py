"""tradewire's Grafana dashboards, built with grafana-foundation-sdk (Grafana 11.6 models).

Five dashboards: Fleet overview, Bot detail (templated by bot), Pipeline, and the layouts
of GPT-Trader's and TRADERAGENT's own dashboards rebuilt on tradewire's names (same
titles, same places; where they read a name of their own, ours carrying the same thing).
Every name comes from :mod:`tools.metric_names`. ``python -m tools.generate_compose``
writes them to ``compose/grafana/dashboards/``; a test fails when the files drift.
"""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode

from tools.metric_names import METRICS

__all__ = ["DASHBOARDS", "DATASOURCE_UID", "build_all"]

DATASOURCE_UID = "tradewire-prometheus"  # compose/grafana/provisioning/datasources
DS = model.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
RATE = "$__rate_interval"
Panel = timeseries.Panel | stat.Panel


def n(key: str) -> str:
    return METRICS[key].name


def _query(i: int, expr: str, legend: str) -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .datasource(DS)
        .ref_id("ABCDEFGHIJ"[i])
    )


def _describe(panel: Panel, text: str, exprs: list[str]) -> None:
    if text:
        panel.description(text)


def _thresholds(steps: list[tuple[float | None, str]]) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=v, color=c) for v, c in steps])
    )


def series(
    title: str,
    *queries: tuple[str, str],
    unit: str = "",
    text: str = "",
    thresholds: list[tuple[float | None, str]] | None = None,
    stack: bool = False,
) -> timeseries.Panel:
    """A time series panel; ``queries`` are (PromQL, legend) pairs."""
    p = timeseries.Panel().title(title).datasource(DS).span(12).height(8)
    for i, (expr, legend) in enumerate(queries):
        p.with_target(_query(i, expr, legend))
    if unit:
        p.unit(unit)
    if thresholds:
        p.thresholds(_thresholds(thresholds))
        p.thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.LINE))
    if stack:
        p.fill_opacity(30)
    _describe(p, text, [e for e, _ in queries])
    return p


def single(
    title: str,
    *queries: tuple[str, str],
    unit: str = "",
    text: str = "",
    thresholds: list[tuple[float | None, str]] | None = None,
) -> stat.Panel:
    """A stat panel (one number per series)."""
    p = stat.Panel().title(title).datasource(DS).span(6).height(4)
    for i, (expr, legend) in enumerate(queries):
        p.with_target(_query(i, expr, legend))
    if unit:
        p.unit(unit)
    if thresholds:
        p.thresholds(_thresholds(thresholds))
    _describe(p, text, [e for e, _ in queries])
    return p


def at(panel: Panel, x: int, y: int, w: int, h: int) -> Panel:
    """Pin a panel where the original dashboard had it."""
    return panel.grid_pos(model.GridPos(h=h, w=w, x=x, y=y))


def bot_variable(multi: bool) -> db.QueryVariable:
    v = (
        db.QueryVariable("bot")
        .label("bot")
        .datasource(DS)
        .query(f"label_values({n('events')}, bot)")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        v.multi(True).include_all(True).all_value(".*")
    return v


def _base(uid: str, title: str, tags: list[str]) -> db.Dashboard:
    return (
        db.Dashboard(title)
        .uid(uid)
        .tags(["tradewire", *tags])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("utc")
        .readonly()
    )


# Seed thresholds: cycle 3 s / 6 s (GPT-Trader playbook), drawdown 10 % / 15 %.
CYCLE_STEPS: list[tuple[float | None, str]] = [(None, "green"), (3, "orange"), (6, "red")]
B = '{bot=~"$bot"}'
ROOT_FS = '{mountpoint="/"}'


def _hq(q: float, metric: str, by: str, sel: str = B) -> str:
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{sel}[{RATE}])))"


def pnl_breakdown(legend: str = "") -> list[tuple[str, str]]:
    """Realized, unrealized, funding and total PnL (GPT-Trader's breakdown)."""
    parts = ("realized", "unrealized", "funding", "total")
    return [(f"{n(p + '_pnl')}{B}", f"{p}{legend}") for p in parts]


def fleet() -> db.Dashboard:
    d = _base("tradewire-fleet", "tradewire / Fleet overview", ["fleet"]).with_variable(
        bot_variable(multi=True)
    )
    by_bot = "{{bot}}"
    return (
        d.with_row(db.Row("Is every bot alive?"))
        .with_panel(
            single(
                "Bots up",
                (f"sum({n('bot_up')}{B})", "up"),
                (f"count({n('bot_up')}{B})", "known"),
            )
        )
        .with_panel(
            single(
                "Firing alerts",
                (f"sum by (severity) ({n('alert_firing')}{B}) or vector(0)", "{{severity}}"),
                thresholds=[(None, "green"), (1, "red")],
            )
        )
        .with_panel(
            single(
                "Lost events",
                (f"sum({n('lost_events')}{B})", "lost"),
                text="Events missing from the bots' sequence numbers.",
                thresholds=[(None, "green"), (1, "red")],
            )
        )
        .with_panel(
            single(
                "Open breakers",
                (f"sum({n('breaker_triggered')}{B})", "open"),
                thresholds=[(None, "green"), (1, "red")],
            )
        )
        .with_panel(
            series(
                "Heartbeat age",
                (f"{n('heartbeat_age')}{B}", by_bot),
                unit="s",
                text="BotDown fires past 120 s.",
                thresholds=[(None, "green"), (60, "orange"), (120, "red")],
            )
        )
        .with_panel(series("Equity", (f"{n('equity')}{B}", by_bot), unit="currencyUSD"))
        .with_row(db.Row("Money and risk"))
        .with_panel(
            series(
                "PnL over 24 h",
                (f"delta({n('total_pnl')}{B}[1d])", by_bot),
                unit="currencyUSD",
                text="Change of total PnL (realized + unrealized + funding - fees).",
            )
        )
        .with_panel(
            series(
                "Daily loss / limit",
                (f"{n('daily_loss')}{B} / {n('daily_loss_limit')}{B}", by_bot),
                unit="percentunit",
                thresholds=[(None, "green"), (0.8, "orange"), (1, "red")],
            )
        )
        .with_panel(
            series(
                "Drawdown",
                (f"{n('drawdown_pct')}{B}", by_bot),
                unit="percent",
                thresholds=[(None, "green"), (10, "orange"), (15, "red")],
            )
        )
        .with_panel(
            series(
                "Circuit breaker (0 closed, 1 half open, 2 open)",
                (f"{n('breaker_state')}{B}", by_bot),
            )
        )
        .with_panel(series("Open orders", (f"{n('open_orders')}{B}", by_bot)))
        .with_panel(
            series(
                "Firing alerts by bot",
                (f"sum by (bot, alertname) ({n('alert_firing')}{B})", "{{bot}} {{alertname}}"),
            )
        )
    )


def bot() -> db.Dashboard:
    d = _base("tradewire-bot", "tradewire / Bot detail", ["bot"]).with_variable(
        bot_variable(multi=False)
    )
    return (
        d.with_row(db.Row("Money"))
        .with_panel(series("Equity", (f"{n('equity')}{B}", "equity"), unit="currencyUSD"))
        .with_panel(series("PnL breakdown", *pnl_breakdown(), unit="currencyUSD"))
        .with_panel(
            series(
                "Exposure per symbol",
                (f"{n('symbol_exposure')}{B}", "{{symbol}}"),
                unit="currencyUSD",
                stack=True,
            )
        )
        .with_panel(
            series("PnL per symbol", (f"{n('symbol_pnl')}{B}", "{{symbol}}"), unit="currencyUSD")
        )
        .with_row(db.Row("Trading loop and orders"))
        .with_panel(
            series(
                "Cycle latency",
                *(
                    (_hq(q, n("cycle_duration"), "bot"), f"p{round(q * 100)}")
                    for q in (0.5, 0.95, 0.99)
                ),
                unit="s",
                text="Seed thresholds: warning 3 s, critical 6 s (p95).",
                thresholds=CYCLE_STEPS,
            )
        )
        .with_panel(
            series(
                "Orders by status",
                (f"sum by (result) (rate({n('order_outcomes')}{B}[{RATE}]))", "{{result}}"),
                (f"sum(rate({n('orders_submitted')}{B}[{RATE}]))", "submitted"),
                unit="ops",
            )
        )
        .with_panel(
            series(
                "Broker call latency p95",
                (_hq(0.95, n("broker_latency"), "operation"), "{{operation}}"),
                unit="s",
                thresholds=[(None, "green"), (1, "orange"), (3, "red")],
            )
        )
        .with_panel(
            series(
                "Guard trips",
                (f"sum by (guard) (increase({n('guard_trips')}{B}[5m]))", "{{guard}}"),
                text="GuardTripSpike: more than 3 (warning) or 10 (critical) in 5 min.",
            )
        )
        .with_row(db.Row("Market data"))
        .with_panel(
            series(
                "Websocket reconnects (1 min)",
                (f"increase({n('ws_reconnects')}{B}[1m])", "reconnects"),
                thresholds=[(None, "green"), (5, "red")],
            )
        )
        .with_panel(
            series("Stale marks (5 min)", (f"increase({n('stale_marks')}{B}[5m])", "stale marks"))
        )
        .with_panel(
            series(
                "Mark staleness",
                (f"{n('staleness')}{B}", "{{symbol}}"),
                unit="s",
                thresholds=[(None, "green"), (10, "orange"), (30, "red")],
            )
        )
        .with_panel(
            series(
                "Data quality score",
                (f"{n('dq_score')}{B}", "{{symbol}} {{interval}}"),
                unit="percentunit",
                thresholds=[(None, "red"), (0.5, "orange"), (0.8, "green")],
            )
        )
        .with_row(db.Row("Process"))
        .with_panel(series("CPU", (f"{n('cpu_percent')}{B}", "cpu"), unit="percent"))
        .with_panel(series("Memory", (f"{n('memory_percent')}{B}", "memory"), unit="percent"))
    )


def pipeline() -> db.Dashboard:
    d = _base("tradewire-pipeline", "tradewire / Pipeline", ["pipeline"])
    return (
        d.with_row(db.Row("Flow"))
        .with_panel(
            series(
                "Events per second by kind",
                (f"sum by (kind) (rate({n('events')}[{RATE}]))", "{{kind}}"),
                unit="ops",
                stack=True,
            )
        )
        .with_panel(
            series("Consumer lag", (f"{n('consumer_lag')}", "{{job}} {{consumer}}"), unit="short")
        )
        .with_panel(
            series(
                "Quarantined by reason",
                (f"sum by (job, reason) (increase({n('quarantined')}[5m]))", "{{job}} {{reason}}"),
            )
        )
        .with_panel(
            series(
                "Lost events by bot", (f"{n('lost_events')} > 0 or {n('lost_events')}", "{{bot}}")
            )
        )
        .with_panel(
            series(
                "Event latency p95 (bot clock to metrics)",
                (
                    f"histogram_quantile(0.95, sum by (le) "
                    f"(rate({n('event_latency')}_bucket[{RATE}])))",
                    "p95",
                ),
                unit="s",
            )
        )
        .with_panel(
            series(
                "Store write latency",
                (
                    f"histogram_quantile(0.95, sum by (le) "
                    f"(rate({n('write_duration')}_bucket[{RATE}])))",
                    "p95",
                ),
                unit="s",
            )
        )
        .with_panel(
            series(
                "Notifications",
                (
                    f"sum by (receiver) (increase({n('notifications_sent')}[5m]))",
                    "sent {{receiver}}",
                ),
                (
                    f"sum by (receiver) (increase({n('notifications_failed')}[5m]))",
                    "failed {{receiver}}",
                ),
            )
        )
        .with_row(db.Row("Scrapes and host"))
        .with_panel(
            series(
                "Targets up", (f"{n('up')}", "{{job}}"), thresholds=[(None, "red"), (1, "green")]
            )
        )
        .with_panel(
            series(
                "Host CPU busy",
                (
                    f'100 - avg(rate({n("node_cpu")}{{mode="idle"}}[{RATE}])) * 100',
                    "cpu",
                ),
                unit="percent",
            )
        )
        .with_panel(
            series(
                "Host memory used",
                (f"1 - {n('node_mem_available')} / {n('node_mem_total')}", "memory"),
                unit="percentunit",
            )
        )
        .with_panel(
            series(
                "Root filesystem free",
                (
                    f"{n('node_fs_avail')}{ROOT_FS} / {n('node_fs_size')}{ROOT_FS}",
                    "free",
                ),
                unit="percentunit",
            )
        )
    )


def gpt_trader() -> db.Dashboard:
    """GPT-Trader's 'Live Trading Monitoring' (deploy/gpt_trader/docker/grafana/dashboards/
    grafana_dashboard.json at 826e5061): its 13 panels, in its places, on our names."""
    d = _base("tradewire-gpt-trader", "GPT Trader - Live Trading Monitoring", ["gpt-trader"])
    d.with_variable(bot_variable(multi=True))
    by_bot = "{{bot}}"
    panels: list[Panel] = [
        at(
            series("Account Equity", (f"{n('equity')}{B}", by_bot), unit="currencyUSD"), 0, 0, 12, 8
        ),
        at(
            series("PnL Breakdown", *pnl_breakdown(" {{bot}}"), unit="currencyUSD"),
            12,
            0,
            12,
            8,
        ),
        at(
            series(
                "Per-Symbol Exposure",
                (f"{n('symbol_exposure')}{B}", "{{bot}} {{symbol}}"),
                unit="currencyUSD",
                stack=True,
            ),
            0,
            8,
            12,
            8,
        ),
        at(
            series(
                "Per-Symbol PnL",
                (f"{n('symbol_pnl')}{B}", "{{bot}} {{symbol}}"),
                unit="currencyUSD",
            ),
            12,
            8,
            12,
            8,
        ),
        at(
            single(
                "Circuit Breaker State",
                (f"{n('breaker_triggered')}{B}", by_bot),
                thresholds=[(None, "green"), (1, "red")],
            ),
            0,
            16,
            6,
            4,
        ),
        at(
            series(
                "Cycle Latency",
                (f"1000 * {_hq(0.95, n('cycle_duration'), 'bot')}", "p95 {{bot}}"),
                unit="ms",
                thresholds=[(None, "green"), (3000, "orange"), (6000, "red")],
            ),
            6,
            16,
            6,
            4,
        ),
        at(single("Open Orders", (f"{n('open_orders')}{B}", by_bot)), 12, 16, 4, 4),
        at(
            single(
                "Unfilled Orders Alert",
                (f"increase({n('unfilled_orders')}{B}[5m])", by_bot),
                thresholds=[(None, "green"), (1, "red")],
            ),
            16,
            16,
            4,
            4,
        ),
        at(
            single("WebSocket Reconnects (1h)", (f"increase({n('ws_reconnects')}{B}[1h])", by_bot)),
            20,
            16,
            4,
            4,
        ),
        at(
            single("Stale Marks Detected", (f"increase({n('stale_marks')}{B}[5m])", by_bot)),
            0,
            20,
            6,
            4,
        ),
        at(
            series("System Resources - CPU", (f"{n('cpu_percent')}{B}", by_bot), unit="percent"),
            6,
            20,
            6,
            4,
        ),
        at(
            series(
                "System Resources - Memory", (f"{n('memory_percent')}{B}", by_bot), unit="percent"
            ),
            12,
            20,
            6,
            4,
        ),
        at(
            series(
                "Order Preview Failures",
                (f'rate({n("order_previews")}{{result="failure",bot=~"$bot"}}[5m])', by_bot),
                unit="ops",
            ),
            18,
            20,
            6,
            4,
        ),
    ]
    for p in panels:
        d.with_panel(p)
    return d


def traderagent() -> db.Dashboard:
    """TRADERAGENT's dashboard (monitoring/grafana/dashboards/traderagent.json): its 11
    panels, in its places, on our names."""
    d = _base("tradewire-traderagent", "TRADERAGENT Dashboard", ["traderagent"])
    d.with_variable(bot_variable(multi=True))
    by_bot = "{{bot}}"
    panels: list[Panel] = [
        at(
            series("Portfolio Value", (f"{n('equity')}{B}", by_bot), unit="currencyUSD"),
            0,
            0,
            12,
            8,
        ),
        at(
            series("Realized PnL", *pnl_breakdown(" {{bot}}")[:2], unit="currencyUSD"),
            12,
            0,
            12,
            8,
        ),
        at(
            single(
                "Active Deals",
                (f"count by (bot) ({n('symbol_exposure')}{B} != 0)", by_bot),
                text="Open positions.",
            ),
            0,
            8,
            6,
            4,
        ),
        at(
            single(
                "Total Trades",
                (f'sum by (bot) ({n("events")}{{kind="fill",bot=~"$bot"}})', by_bot),
                text="Fills seen since the metrics service started.",
            ),
            6,
            8,
            6,
            4,
        ),
        at(
            single(
                "Bot Health",
                (f"{n('bot_up')}{B}", by_bot),
                thresholds=[(None, "red"), (1, "green")],
            ),
            12,
            8,
            6,
            4,
        ),
        at(single("Uptime", (f"{n('uptime')}{B}", by_bot), unit="s"), 18, 8, 6, 4),
        at(single("Strategy Active", (f"{n('strategy_active')}{B}", by_bot)), 0, 12, 8, 4),
        at(single("Market Regime Changes", (f"{n('regime_changes')}{B}", by_bot)), 8, 12, 8, 4),
        at(single("DCA Safety Orders", (f"{n('dca_steps')}{B}", by_bot)), 16, 12, 8, 4),
        at(
            series("API Latency", (_hq(0.95, n("broker_latency"), "bot"), by_bot), unit="s"),
            0,
            16,
            12,
            8,
        ),
        at(series("Grid Open Orders", (f"{n('open_orders')}{B}", by_bot)), 12, 16, 12, 8),
    ]
    for p in panels:
        d.with_panel(p)
    return d


# file name (without .json) -> builder
DASHBOARDS: dict[str, Callable[[], db.Dashboard]] = {
    "tradewire-fleet": fleet,
    "tradewire-bot": bot,
    "tradewire-pipeline": pipeline,
    "gpt-trader": gpt_trader,
    "traderagent": traderagent,
}


def build_all() -> dict[str, str]:
    """File name -> the dashboard's JSON text, as committed."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder  # noqa: PLC0415

    enc = JSONEncoder(sort_keys=True, indent=2)
    out = {}
    for name, make in DASHBOARDS.items():
        dash = make().build()
        for i, panel in enumerate(dash.panels or [], 1):  # Grafana links and shares by id
            panel.id_val = i
        out[f"{name}.json"] = enc.encode(dash) + "\n"
    return out
