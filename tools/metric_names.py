"""Every metric name the dashboards and the stack's tests rely on, in one table.

``tests/stack/test_dashboards.py`` checks every name whose ``job`` is
``tradewire-metrics`` against what the metrics service exports under tradewire's names.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["METRICS", "Metric"]


@dataclass(frozen=True)
class Metric:
    name: str
    job: str  # the Prometheus job that serves it (compose/prometheus/prometheus.yml)

    def __str__(self) -> str:
        return self.name


def _m(name: str, job: str = "tradewire-metrics") -> Metric:
    return Metric(name, job)


METRICS: dict[str, Metric] = {
    # account and PnL
    "equity": _m("tradewire_equity_dollars"),
    "total_pnl": _m("tradewire_total_pnl_usd"),
    "realized_pnl": _m("tradewire_realized_pnl_usd"),
    "unrealized_pnl": _m("tradewire_unrealized_pnl_usd"),
    "funding_pnl": _m("tradewire_funding_pnl_usd"),
    "symbol_exposure": _m("tradewire_symbol_exposure_usd"),
    "symbol_pnl": _m("tradewire_symbol_pnl_usd"),
    "win_rate": _m("tradewire_win_rate"),
    # risk
    "exposure": _m("tradewire_exposure_usd"),
    "drawdown_pct": _m("tradewire_drawdown_pct"),
    "daily_loss": _m("tradewire_risk_daily_loss"),
    "daily_loss_limit": _m("tradewire_risk_daily_loss_limit"),
    "breaker_state": _m("tradewire_circuit_breaker_state"),
    "breaker_triggered": _m("tradewire_circuit_breaker_triggered"),
    "guard_trips": _m("tradewire_guard_trips_total"),
    # liveness and the trading loop
    "heartbeat_age": _m("tradewire_heartbeat_age_seconds"),
    "bot_up": _m("tradewire_bot_up"),
    "cycle_duration": _m("tradewire_cycle_duration_seconds"),
    "cycle_errors": _m("tradewire_cycle_errors_total"),
    "errors": _m("tradewire_errors_total"),
    "account_age": _m("tradewire_telemetry_account_age_seconds"),
    # orders and the exchange
    "order_outcomes": _m("tradewire_order_submission_total"),
    "orders_submitted": _m("tradewire_orders_submitted_total"),
    "order_latency": _m("tradewire_order_submission_latency_seconds"),
    "broker_latency": _m("tradewire_broker_call_latency_seconds"),
    # market data
    "ws_connected": _m("tradewire_ws_connected"),
    "ws_reconnects": _m("tradewire_websocket_reconnects_total"),
    "staleness": _m("tradewire_market_data_staleness_seconds"),
    "stale_marks": _m("tradewire_stale_marks_total"),
    "dq_score": _m("tradewire_data_quality_score"),
    "dq_issues": _m("tradewire_data_quality_issues_total"),
    # pipeline
    "events": _m("tradewire_pipeline_events_total"),
    "quarantined": _m("tradewire_pipeline_quarantined_total"),
    "lost_events": _m("tradewire_pipeline_lost_events"),
    "consumer_lag": _m("tradewire_pipeline_consumer_lag"),
    "event_latency": _m("tradewire_pipeline_event_latency_seconds"),
    "alert_firing": _m("tradewire_alert_firing"),
    "write_duration": _m("tradewire_pipeline_write_duration_seconds", job="tradewire-store"),
    "notifications_sent": _m("tradewire_pipeline_notifications_sent_total", job="tradewire-alerts"),
    "notifications_failed": _m(
        "tradewire_pipeline_notifications_failed_total", job="tradewire-alerts"
    ),
    "open_orders": _m("tradewire_open_orders"),
    "unfilled_orders": _m("tradewire_unfilled_orders_total"),
    "order_previews": _m("tradewire_order_previews_total"),
    "cpu_percent": _m("tradewire_process_cpu_percent"),
    "memory_percent": _m("tradewire_process_memory_percent"),
    "uptime": _m("tradewire_bot_uptime_seconds"),
    "strategy_active": _m("tradewire_bot_running"),
    # A bot's own numbers (`metric` events): tradewire_custom_<name>.
    "regime_changes": _m("tradewire_custom_regime_changes_total"),
    "dca_steps": _m("tradewire_custom_dca_steps_active"),
    # other exporters
    "up": _m("up", job="(every job)"),
    "node_cpu": _m("node_cpu_seconds_total", job="node"),
    "node_mem_total": _m("node_memory_MemTotal_bytes", job="node"),
    "node_mem_available": _m("node_memory_MemAvailable_bytes", job="node"),
    "node_fs_avail": _m("node_filesystem_avail_bytes", job="node"),
    "node_fs_size": _m("node_filesystem_size_bytes", job="node"),
}
