"""The catalog: every metric family the aggregation keeps, as one table of data.

A row names the family (tradewire's own name, without prefix), its type and labels,
what it means and which event and field it comes from. The fold functions
(``_folds``) fill the values, ``_computed`` the ones worked out at scrape time, and
the naming profiles (``_profiles``) map the rows to the names each seed's dashboards
and rules use. Adding a metric is adding a row here and a line in a fold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ._families import DEFAULT_BUCKETS, Family, Kind, Labels

__all__ = ["CATALOG", "LATENCY_BUCKETS", "WS_LAG_BUCKETS", "Spec", "build_families"]

# The pipeline's own latency (bot clock to aggregation): it can be long.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# GPT-Trader's websocket heartbeat-lag buckets (seconds).
WS_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


@dataclass(frozen=True)
class Spec:
    name: str
    kind: Kind
    labels: Labels
    help: str
    source: str
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    # False: kept for the seed profiles only (tradewire has the same number elsewhere,
    # and the extra series would cost every scrape).
    tradewire: bool = True


B: Labels = ("bot",)


def _spec(kind: Kind) -> Callable[..., Spec]:
    def make(
        name: str,
        labels: Labels,
        help: str,
        source: str,
        *,
        buckets: tuple[float, ...] = DEFAULT_BUCKETS,
        tradewire: bool = True,
    ) -> Spec:
        return Spec(name, kind, labels, help, source, buckets, tradewire)

    return make


_g, _c, _h = _spec("gauge"), _spec("counter"), _spec("histogram")


CATALOG: tuple[Spec, ...] = (
    # -- heartbeat, lifecycle, health: is the bot alive, and how is its process?
    _g("heartbeat_age_seconds", B, "Seconds since the bot's last heartbeat", "scrape time: heartbeat.ts"),
    _g("bot_up", B, "1 when a heartbeat arrived within bot_down_after_s", "scrape time: heartbeat.ts"),
    _g("bot_uptime_seconds", B, "Bot process uptime, from its latest heartbeat", "heartbeat.uptime_s"),
    _g("process_cpu_percent", B, "Bot process CPU, % of one core since the previous heartbeat", "heartbeat.cpu_percent"),
    _g("process_memory_rss_bytes", B, "Bot process resident memory", "heartbeat.memory_rss_bytes"),
    _g("process_memory_percent", B, "Bot process resident memory, % of the host's", "heartbeat.memory_percent"),
    _g("process_open_files", B, "File descriptors the bot process holds", "heartbeat.open_files"),
    _g("process_threads", B, "Threads of the bot process", "heartbeat.threads"),
    _g("disk_used_percent", B, "Use of the filesystem holding the bot's outbox, %", "heartbeat.disk_percent"),
    _g("disk_used_bytes", B, "Bytes used on the filesystem holding the bot's outbox", "heartbeat.disk_used_bytes"),
    _c("network_sent_bytes_total", B, "Bytes the bot host's interfaces sent since boot", "heartbeat.net_sent_bytes"),
    _c("network_received_bytes_total", B, "Bytes the bot host's interfaces received since boot", "heartbeat.net_recv_bytes"),
    _g("bot_running", B, "1 after started or resumed; 0 after paused, stopped or emergency_stop", "lifecycle.state"),
    _g("health_status", (*B, "component"), "The bot's own verdict: 0 healthy, 1 degraded, 2 unhealthy, 3 critical", "health.status, health.component"),
    _g("bot_healthy", B, "1 while no component's latest verdict is unhealthy or critical", "scrape time: health.status"),
    # -- the trading loop and its decisions
    _h("cycle_duration_seconds", (*B, "result"), "Trading loop pass duration; result ok or error", "cycle.duration_s, cycle.ok"),
    _c("cycle_errors_total", B, "Trading loop passes that raised", "cycle (ok false)"),
    _g("last_cycle_duration_seconds", B, "Duration of the bot's latest trading loop pass", "cycle.duration_s"),
    _g("last_cycle_timestamp_seconds", B, "When the bot's latest trading loop pass ended (epoch s)", "cycle.ts"),
    _c("trades_executed_total", B, "Trade decisions carried out", "decision (action executed)"),
    _c("trades_blocked_total", (*B, "gate"), "Trade decisions a gate stopped", "decision (action blocked).gate"),
    # -- orders
    _c("order_submission_total", (*B, "result", "reason", "side"), "Order outcomes, one per order: success, rejected, failed", "order.status, .reason, .side"),
    _h("order_submission_latency_seconds", (*B, "result", "side"), "Order submission latency", "order.latency_s"),
    _c("orders_submitted_total", B, "Orders submitted", "order (status submitted)"),
    _c("orders_cancelled_total", B, "Orders cancelled", "order (status cancelled)"),
    _c("order_missing_decision_id_total", B, "Orders submitted without a decision_id", "order (status submitted, decision_id empty)"),
    _g("open_orders", B, "Open orders: the bot's own count from its account snapshot, else orders seen submitted and not yet done", "account.open_orders, else order.status"),
    _c("unfilled_orders_total", B, "Orders still open unfilled_order_after_s after submission, or reported unfilled by the bot; each order once", "order (age at scrape), unfilled_order"),
    # -- fills
    _c("fills_total", (*B, "side", "strategy"), "Executions (trades)", "fill.side, fill.strategy"),
    _c("winning_trades_total", B, "Fills that realized a profit", "fill.realized_pnl > 0"),
    _c("losing_trades_total", B, "Fills that realized a loss", "fill.realized_pnl < 0"),
    _g("win_rate", B, "Winning / closing fills since this service started (0-1)", "scrape time: fill.realized_pnl"),
    _g("last_trade_timestamp_seconds", B, "When the bot's latest fill happened (epoch s)", "fill.ts"),
    # -- exchange API
    _h("broker_call_latency_seconds", (*B, "operation", "outcome", "reason"), "Exchange API call latency", "broker_call.latency_s, .operation, .outcome, .reason"),
    _c("api_requests_total", (*B, "category", "endpoint", "result"), "Exchange API calls; result success or error", "broker_call.category, .endpoint, .outcome"),
    _h("api_latency_seconds", (*B, "category", "endpoint", "result"), "Exchange API call latency by API area and endpoint", "broker_call.latency_s, .category, .endpoint, .outcome", tradewire=False),
    _c("api_retries_total", (*B, "category", "reason"), "Retries of exchange API calls", "broker_call.retries, .category, .reason"),
    _g("api_error_ratio", B, "Share of the bot's API calls that failed since this service started (0-1)", "scrape time: broker_call.outcome"),
    _g("last_api_latency_seconds", B, "Latency of the bot's latest exchange API call", "broker_call.latency_s"),
    _g("rate_limit_remaining", B, "Requests left in the exchange's rate-limit window", "broker_call.rate_limit_remaining"),
    _g("rate_limit_usage_ratio", B, "Share of the exchange's rate-limit window used (0-1)", "broker_call.rate_limit_remaining, .rate_limit_limit"),
    _c("order_previews_total", (*B, "result"), "Order previews; result success or failure", "broker_call (operation preview).outcome"),
    # -- guards and checks
    _c("guard_trips_total", (*B, "guard", "category", "recoverable"), "Risk guard trips", "guard (action tripped).guard, .category, .recoverable"),
    _c("guard_checks_total", (*B, "guard", "result"), "Guard and validation runs; result success or failure", "guard_check.guard, .ok"),
    _c("stale_marks_total", B, "Stale marks the bot detected", "stale_mark"),
    # -- risk
    _g("circuit_breaker_state", B, "Circuit breaker: 0 closed, 1 half_open, 2 open", "risk.circuit_breaker"),
    _g("circuit_breaker_triggered", B, "1 while the circuit breaker is not closed", "risk.circuit_breaker"),
    _g("risk_daily_loss", B, "Loss so far today", "risk.daily_loss"),
    _g("risk_daily_loss_limit", B, "Daily loss limit", "risk.daily_loss_limit"),
    _g("drawdown_pct", B, "Drawdown from peak equity, %", "risk.drawdown_pct"),
    _g("exposure_usd", B, "Gross exposure", "risk.exposure_usd"),
    # -- account
    _g("equity_dollars", B, "Account equity", "account.equity"),
    _g("total_pnl_usd", B, "realized + unrealized + funding - fees, latest snapshot", "account"),
    _g("realized_pnl_usd", B, "Realized PnL", "account.realized_pnl"),
    _g("unrealized_pnl_usd", B, "Unrealized PnL", "account.unrealized_pnl"),
    _g("funding_pnl_usd", B, "Funding PnL", "account.funding_pnl"),
    _g("portfolio_return_ratio", B, "total PnL / (equity - total PnL): the return on the capital the PnL was made with", "account"),
    _g("symbol_exposure_usd", (*B, "symbol"), "Notional of the open position", "account.positions[].notional"),
    _g("symbol_pnl_usd", (*B, "symbol"), "Unrealized PnL of the open position", "account.positions[].unrealized_pnl"),
    _g("position_size", (*B, "symbol"), "Quantity of the open position, base currency", "account.positions[].qty"),
    _g("open_positions", B, "Open positions", "account.positions"),
    _g("account_limit_remaining_usd", B, "Trading limit left at the exchange", "account.limit_remaining"),
    _g("fee_tier", (*B, "tier"), "1 for the account's current fee tier", "account.fee_tier"),
    _g("telemetry_account_age_seconds", B, "Seconds since the last account snapshot", "scrape time: account.ts"),
    # -- market data and its websocket
    _g("market_data_staleness_seconds", (*B, "symbol"), "Seconds since the last mark of the symbol", "scrape time: mark.ts"),
    _g("ws_last_message_age_seconds", B, "Seconds since the bot's last market-data message", "scrape time: mark.ts, ws.last_message_ts"),
    _g("ws_message_stale", B, "1 when no market-data message arrived within ws_stale_after_s", "scrape time: mark.ts, ws.last_message_ts"),
    _g("ws_last_heartbeat_age_seconds", B, "Seconds since the feed's last heartbeat", "scrape time: ws.last_heartbeat_ts"),
    _g("ws_heartbeat_stale", B, "1 when the feed's last heartbeat is older than ws_heartbeat_stale_after_s", "scrape time: ws.last_heartbeat_ts"),
    _g("ws_last_close_age_seconds", B, "Seconds since the feed last closed", "scrape time: ws.last_close_ts"),
    _g("ws_last_error_age_seconds", B, "Seconds since the feed last failed", "scrape time: ws.last_error_ts"),
    _h("ws_heartbeat_lag_seconds", B, "Delay of the feed's heartbeats", "ws.heartbeat_lag_s", buckets=WS_LAG_BUCKETS),
    _g("ws_connected", B, "1 when the market-data websocket is connected", "ws.state"),
    # GPT-Trader names these ws_reconnect_count and ws_gap_count (its profile keeps them);
    # promtool refuses a "_count" suffix outside histograms, so tradewire's drop it.
    _g("ws_reconnects", B, "Reconnects since the bot started, as the bot reports", "ws.reconnect_count"),
    _g("ws_gaps", B, "Sequence gaps in the market-data feed, as the bot reports", "ws.gap_count"),
    _c("websocket_reconnects_total", B, "Websocket reconnects (ws events with state reconnecting)", "ws (state reconnecting)"),
    # -- data quality, errors
    _g("data_quality_score", (*B, "symbol", "interval"), "Latest data-quality score, 0 to 1", "data_quality.score"),
    _g("data_quality_issues", (*B, "symbol", "interval"), "Issues found by the latest data-quality check", "data_quality.issues[].count"),
    _c("data_quality_issues_total", (*B, "symbol", "interval", "issue_type", "severity"), "Data-quality issues found", "data_quality.issues[]"),
    _c("errors_total", (*B, "component", "error_type"), "Errors the bot reported", "error.component, .error_type"),
    # -- the pipeline's own health
    _c("pipeline_events_total", (*B, "kind"), "Events aggregated", "every event"),
    _c("pipeline_quarantined_total", ("reason",), "Messages refused by this service", "invalid messages"),
    _g("pipeline_lost_events", B, "Events missing from seq (between the first and the last seq delivered first to this process, per run)", "scrape time: every event's seq"),
    _c("pipeline_duplicates_total", (), "Redelivered events skipped", "every event"),
    _h("pipeline_event_latency_seconds", (), "Event time to aggregation (bot clock vs this host's)", "every event", buckets=LATENCY_BUCKETS),
    _c("pipeline_label_overflow_total", (*B, "label"), "Label values reported as 'other' because of the per-bot cap", "every event"),
    _c("custom_metrics_refused_total", (*B, "reason"), "Custom metric events not aggregated: type_conflict, reserved_name, name_conflict, too_many_names, too_many_series", "metric"),
    # Like Prometheus' ALERTS: 1 per alert firing now. `labels` holds the rule's
    # extra labels (e.g. symbol=BTC-USD) as k=v pairs: their names vary by rule.
    _g("alert_firing", (*B, "alertname", "severity", "labels"), "1 for each alert the alerts service has firing", "alerts service (state in NATS KV)"),
)  # fmt: skip


def build_families() -> dict[str, Family]:
    """Fresh, empty families for one aggregation, keyed by catalog name."""
    return {s.name: Family(s.name, s.kind, s.labels, s.help, s.source, s.buckets) for s in CATALOG}
