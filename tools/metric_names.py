"""Every metric name the dashboards and the stack's tests rely on, in one table.

``pending`` says what must land before a name has data in the stack: a metric the
metrics service does not export yet, or one today's simulator never produces. The
dashboards still show those panels (their descriptions say what they wait for); the
end-to-end test asserts that their queries return nothing yet, so the day they do, it
fails and says which entry to flip (set ``pending`` to "").

``tests/stack/test_dashboards.py`` checks every name with ``pending == ""`` whose
``job`` is ``tradewire-metrics`` against the metrics service's own catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["JOBS_WITHOUT_METRICS", "METRICS", "Metric", "pending_names", "waiting_for"]

ISSUE_10 = "the metrics service's new families (issue 10, seed conformance)"
SCENARIO = "a simulator scenario that produces it (issue 10's incident scenario)"
RUNTIME = "every service's own /metrics (branch w9-runtime)"


@dataclass(frozen=True)
class Metric:
    name: str
    job: str  # the Prometheus job that serves it (compose/prometheus/prometheus.yml)
    pending: str = ""

    def __str__(self) -> str:
        return self.name


def _m(name: str, pending: str = "", job: str = "tradewire-metrics") -> Metric:
    return Metric(name, job, pending)


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
    "stale_marks": _m("tradewire_stale_marks_total", SCENARIO),
    "dq_score": _m("tradewire_data_quality_score"),
    "dq_issues": _m("tradewire_data_quality_issues_total"),
    # pipeline
    "events": _m("tradewire_pipeline_events_total"),
    "quarantined": _m("tradewire_pipeline_quarantined_total"),
    "lost_events": _m("tradewire_pipeline_lost_events"),
    "consumer_lag": _m("tradewire_pipeline_consumer_lag"),
    "event_latency": _m("tradewire_pipeline_event_latency_seconds"),
    "alert_firing": _m("tradewire_alert_firing"),
    "write_duration": _m(
        "tradewire_pipeline_write_duration_seconds", RUNTIME, job="tradewire-store"
    ),
    "notifications_sent": _m(
        "tradewire_pipeline_notifications_sent_total", RUNTIME, job="tradewire-alerts"
    ),
    "notifications_failed": _m(
        "tradewire_pipeline_notifications_failed_total", RUNTIME, job="tradewire-alerts"
    ),
    # not exported yet (names to confirm when issue 10 lands)
    "open_orders": _m("tradewire_open_orders", ISSUE_10),
    "unfilled_orders": _m("tradewire_unfilled_orders_total", ISSUE_10),
    "preview_failures": _m("tradewire_order_preview_failures_total", ISSUE_10),
    "cpu_percent": _m("tradewire_cpu_percent", ISSUE_10),
    "memory_percent": _m("tradewire_memory_percent", ISSUE_10),
    "uptime": _m("tradewire_uptime_seconds", ISSUE_10),
    "strategy_active": _m("tradewire_strategy_active", ISSUE_10),
    "regime_changes": _m("tradewire_regime_changes_total", ISSUE_10),
    "dca_steps": _m("tradewire_dca_steps_active", ISSUE_10),
    # other exporters
    "up": _m("up", job="(every job)"),
    "node_cpu": _m("node_cpu_seconds_total", job="node"),
    "node_mem_total": _m("node_memory_MemTotal_bytes", job="node"),
    "node_mem_available": _m("node_memory_MemAvailable_bytes", job="node"),
    "node_fs_avail": _m("node_filesystem_avail_bytes", job="node"),
    "node_fs_size": _m("node_filesystem_size_bytes", job="node"),
}


def pending_names() -> dict[str, str]:
    """Metric name -> what it waits for, for every pending entry."""
    return {m.name: m.pending for m in METRICS.values() if m.pending}


def waiting_for(expr: str) -> list[str]:
    """The pending names a PromQL expression reads (histograms by their series too)."""
    return sorted(
        name for name in pending_names() if re.search(rf"\b{name}(?:_bucket|_sum|_count)?\b", expr)
    )


# Prometheus jobs whose target serves no /metrics yet (Prometheus sees them down).
JOBS_WITHOUT_METRICS = {"tradewire-store": RUNTIME, "tradewire-alerts": RUNTIME}
