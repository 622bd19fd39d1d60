"""One fold function per event kind: how an event updates the catalog's families.

Each takes ``(aggregator, event, now, seed)``. ``seed`` is True while the service
starts from the stream's last message per subject: folds then set state and gauges
only, since counters and histograms start at zero after a restart.

Event times count for liveness (heartbeats, marks, snapshots) only up to ``now``, when
the event was folded in: a bot clock ahead of ours (within the decoder's
``max_future_s``) must not keep a bot "up" after it stopped, nor make an age negative.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from tradewire.schemas import (
    Account,
    BrokerCall,
    Cycle,
    DataQuality,
    Decision,
    Envelope,
    Error,
    Fill,
    Guard,
    GuardCheck,
    Health,
    Heartbeat,
    Lifecycle,
    Mark,
    Metric,
    Order,
    Risk,
    StaleMark,
    UnfilledOrder,
    Ws,
)

from ._families import Labels, count
from ._orders import OPEN_STATUSES

if TYPE_CHECKING:
    from ._aggregator import Aggregator

__all__ = ["FOLDS", "HEALTH_LEVELS"]

_BREAKER = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
_SUCCESS = frozenset({"accepted", "filled", "partially_filled"})
HEALTH_LEVELS = {"healthy": 0, "degraded": 1, "unhealthy": 2, "critical": 3}
_RUNNING = {"started": 1.0, "resumed": 1.0, "paused": 0.0, "stopped": 0.0, "emergency_stop": 0.0}


def _heartbeat(a: Aggregator, ev: Heartbeat, now: float, seed: bool) -> None:
    bot = ev.bot
    a.last_heartbeat[bot] = max(min(ev.ts, now), a.last_heartbeat.get(bot, 0.0))
    f, b = a.families, (bot,)
    f["bot_uptime_seconds"].set(b, ev.uptime_s)
    vitals = (
        ("process_cpu_percent", ev.cpu_percent),
        ("process_memory_rss_bytes", ev.memory_rss_bytes),
        ("process_memory_percent", ev.memory_percent),
        ("process_open_files", ev.open_files),
        ("process_threads", ev.threads),
        ("disk_used_percent", ev.disk_percent),
        ("disk_used_bytes", ev.disk_used_bytes),
        # Host counters since boot: the bot's reading is the counter's value.
        ("network_sent_bytes_total", ev.net_sent_bytes),
        ("network_received_bytes_total", ev.net_recv_bytes),
    )
    for name, value in vitals:
        if value is not None:
            f[name].set(b, count(value) if isinstance(value, int) else value)


def _lifecycle(a: Aggregator, ev: Lifecycle, now: float, seed: bool) -> None:
    a.families["bot_running"].set((ev.bot,), _RUNNING[ev.state])


def _health(a: Aggregator, ev: Health, now: float, seed: bool) -> None:
    bot = ev.bot
    component = a.label(bot, "component", ev.component)
    level = HEALTH_LEVELS[ev.status]
    a.health[bot][component] = level
    a.families["health_status"].set((bot, component), float(level))


def _cycle(a: Aggregator, ev: Cycle, now: float, seed: bool) -> None:
    f, b = a.families, (ev.bot,)
    last = f["last_cycle_timestamp_seconds"]
    if ev.ts >= last.values.get(b, 0.0):
        last.set(b, ev.ts)
        f["last_cycle_duration_seconds"].set(b, ev.duration_s)
    if seed:
        return
    f["cycle_duration_seconds"].observe((ev.bot, "ok" if ev.ok else "error"), ev.duration_s)
    if not ev.ok:
        f["cycle_errors_total"].inc(b)


def _decision(a: Aggregator, ev: Decision, now: float, seed: bool) -> None:
    if seed:
        return
    bot = ev.bot
    if ev.action == "executed":
        a.families["trades_executed_total"].inc((bot,))
    else:
        a.families["trades_blocked_total"].inc((bot, a.label(bot, "gate", ev.gate)))


def _order(a: Aggregator, ev: Order, now: float, seed: bool) -> None:
    bot = ev.bot
    a.latest_order[bot] = msgspec.to_builtins(ev)
    oid = ev.order_id or ev.client_order_id
    if oid and not a.orders.update(bot, oid, ev.status in OPEN_STATUSES, ev.ts):
        a.families["pipeline_label_overflow_total"].inc((bot, "open_order"))
    if seed:
        return
    f = a.families
    if ev.status == "submitted":
        f["orders_submitted_total"].inc((bot,))
        if not ev.decision_id:
            f["order_missing_decision_id_total"].inc((bot,))
        return
    if ev.status == "cancelled":
        f["orders_cancelled_total"].inc((bot,))
        return
    if ev.status in _SUCCESS:
        result = "success"
    elif ev.status in ("rejected", "failed"):
        result = ev.status
    else:
        return  # expired: not a submission outcome
    # One outcome per order: "accepted" then "filled" is one success.
    if ev.order_id and not a.order_outcome.add(f"{bot}\0{ev.order_id}"):
        return
    reason = a.label(bot, "reason", ev.reason if result != "success" else "none")
    f["order_submission_total"].inc((bot, result, reason, ev.side))
    if ev.latency_s is not None:
        f["order_submission_latency_seconds"].observe((bot, result, ev.side), ev.latency_s)
    w = a.window
    w.add(now, "orders")
    if result != "success":
        w.add(now, "order_errors")
    if ev.retries:
        w.add(now, "order_retries")


def _unfilled_order(a: Aggregator, ev: UnfilledOrder, now: float, seed: bool) -> None:
    if not seed and a.orders.reported_unfilled(ev.bot, ev.order_id):
        a.families["unfilled_orders_total"].inc((ev.bot,))


def _fill(a: Aggregator, ev: Fill, now: float, seed: bool) -> None:
    f, bot = a.families, ev.bot
    last = f["last_trade_timestamp_seconds"]
    last.set((bot,), max(ev.ts, last.values.get((bot,), 0.0)))
    if seed:
        return
    strategy = a.label(bot, "strategy", ev.strategy)
    f["fills_total"].inc((bot, ev.side, strategy))
    if ev.realized_pnl > 0:
        f["winning_trades_total"].inc((bot,))
    elif ev.realized_pnl < 0:
        f["losing_trades_total"].inc((bot,))


def _broker_call(a: Aggregator, ev: BrokerCall, now: float, seed: bool) -> None:
    f, bot, b = a.families, ev.bot, (ev.bot,)
    if ev.rate_limit_remaining is not None:
        remaining = count(ev.rate_limit_remaining)
        f["rate_limit_remaining"].set(b, remaining)
        if ev.rate_limit_limit:
            used = 1.0 - remaining / count(ev.rate_limit_limit)
            f["rate_limit_usage_ratio"].set(b, min(1.0, max(0.0, used)))
    f["last_api_latency_seconds"].set(b, ev.latency_s)
    if seed:
        return
    label = a.label
    operation = label(bot, "operation", ev.operation)
    reason = label(bot, "reason", ev.reason)
    f["broker_call_latency_seconds"].observe((bot, operation, ev.outcome, reason), ev.latency_s)
    category = label(bot, "category", ev.category or "unknown")
    result = "success" if ev.outcome == "success" else "error"
    api = (bot, category, label(bot, "endpoint", ev.endpoint or "unknown"), result)
    f["api_requests_total"].inc(api)
    f["api_latency_seconds"].observe(api, ev.latency_s)
    if ev.retries:
        f["api_retries_total"].inc((bot, category, reason), count(ev.retries))
    if ev.operation == "preview":
        f["order_previews_total"].inc((bot, ev.outcome))
    elif ev.operation == "submit":
        a.window.add(now, "submit_latency", ev.latency_s)


def _guard(a: Aggregator, ev: Guard, now: float, seed: bool) -> None:
    if seed or ev.action != "tripped":
        return
    bot = ev.bot
    a.families["guard_trips_total"].inc(
        (
            bot,
            a.label(bot, "guard", ev.guard),
            a.label(bot, "category", ev.category),
            "true" if ev.recoverable else "false",
        )
    )
    a.window.add(now, "guard_trips")


def _guard_check(a: Aggregator, ev: GuardCheck, now: float, seed: bool) -> None:
    if not seed:
        guard = a.label(ev.bot, "guard", ev.guard)
        result = "success" if ev.ok else "failure"
        a.families["guard_checks_total"].inc((ev.bot, guard, result))


def _stale_mark(a: Aggregator, ev: StaleMark, now: float, seed: bool) -> None:
    if not seed:
        a.families["stale_marks_total"].inc((ev.bot,))


def _risk(a: Aggregator, ev: Risk, now: float, seed: bool) -> None:
    f, b = a.families, (ev.bot,)
    f["risk_daily_loss"].set(b, ev.daily_loss)
    f["risk_daily_loss_limit"].set(b, ev.daily_loss_limit)
    f["drawdown_pct"].set(b, ev.drawdown_pct)
    f["exposure_usd"].set(b, ev.exposure_usd)
    f["circuit_breaker_state"].set(b, _BREAKER[ev.circuit_breaker])
    f["circuit_breaker_triggered"].set(b, 0.0 if ev.circuit_breaker == "closed" else 1.0)


def _account(a: Aggregator, ev: Account, now: float, seed: bool) -> None:
    bot = ev.bot
    ts = min(ev.ts, now)
    if ts < a.last_account.get(bot, 0.0):
        return  # an older snapshot arriving late must not roll the gauges back
    f, b = a.families, (bot,)
    a.last_account[bot] = ts
    a.latest_account[bot] = msgspec.to_builtins(ev)
    total = ev.realized_pnl + ev.unrealized_pnl + ev.funding_pnl - ev.fees
    f["equity_dollars"].set(b, ev.equity)
    f["realized_pnl_usd"].set(b, ev.realized_pnl)
    f["unrealized_pnl_usd"].set(b, ev.unrealized_pnl)
    f["funding_pnl_usd"].set(b, ev.funding_pnl)
    f["total_pnl_usd"].set(b, total)
    if ev.equity - total > 0:  # the capital the PnL was made with
        f["portfolio_return_ratio"].set(b, total / (ev.equity - total))
    f["open_positions"].set(b, float(len(ev.positions)))
    if ev.open_orders is not None:
        a.reported_open_orders[bot] = ev.open_orders
    if ev.limit_remaining is not None:
        f["account_limit_remaining_usd"].set(b, ev.limit_remaining)
    if ev.fee_tier:
        tier = (bot, a.label(bot, "tier", ev.fee_tier))
        f["fee_tier"].values.pop(a.fee_tier.get(bot, tier), None)  # one tier at a time
        f["fee_tier"].set(tier, 1.0)
        a.fee_tier[bot] = tier
    # Positions that closed since the last snapshot go; the bot's keys are remembered,
    # so this does not scan every bot's series.
    exposure, pnl, size = f["symbol_exposure_usd"], f["symbol_pnl_usd"], f["position_size"]
    for key in a.position_keys.pop(bot, ()):
        for fam in (exposure, pnl, size):
            fam.values.pop(key, None)
    keys: list[Labels] = []
    for p in ev.positions:
        key = (bot, a.label(bot, "symbol", p.symbol))
        exposure.inc(key, abs(p.notional))
        pnl.inc(key, p.unrealized_pnl)
        size.inc(key, p.qty)
        keys.append(key)
    if keys:
        a.position_keys[bot] = keys


def _mark(a: Aggregator, ev: Mark, now: float, seed: bool) -> None:
    sym = a.label(ev.bot, "symbol", ev.symbol)
    marks = a.last_mark[ev.bot]
    marks[sym] = max(min(ev.ts, now), marks.get(sym, 0.0))


def _ws(a: Aggregator, ev: Ws, now: float, seed: bool) -> None:
    f, b = a.families, (ev.bot,)
    f["ws_connected"].set(b, 1.0 if ev.state == "connected" else 0.0)
    f["ws_reconnects"].set(b, count(ev.reconnect_count))
    f["ws_gaps"].set(b, count(ev.gap_count))
    seen = a.ws_seen.get(ev.bot)
    if seen is None:
        seen = a.ws_seen[ev.bot] = [None, None, None, None]
    reported = (ev.last_message_ts, ev.last_heartbeat_ts, ev.last_close_ts, ev.last_error_ts)
    for i, ts in enumerate(reported):
        if ts is not None:
            old = seen[i]
            seen[i] = ts if old is None else max(old, ts)
    if seed:
        return
    if ev.state == "reconnecting":
        f["websocket_reconnects_total"].inc(b)
    if ev.heartbeat_lag_s is not None:
        f["ws_heartbeat_lag_seconds"].observe(b, ev.heartbeat_lag_s)


def _data_quality(a: Aggregator, ev: DataQuality, now: float, seed: bool) -> None:
    f, bot, label = a.families, ev.bot, a.label
    key = (bot, label(bot, "symbol", ev.symbol), label(bot, "interval", ev.interval))
    f["data_quality_score"].set(key, ev.score)
    f["data_quality_issues"].set(key, count(sum(i.count for i in ev.issues)))
    if seed:
        return
    total = f["data_quality_issues_total"]
    for i in ev.issues:
        total.inc((*key, label(bot, "issue_type", i.issue_type), i.severity), count(i.count))


def _error(a: Aggregator, ev: Error, now: float, seed: bool) -> None:
    if seed:
        return
    bot, label = ev.bot, a.label
    key = (bot, label(bot, "component", ev.component), label(bot, "error_type", ev.error_type))
    a.families["errors_total"].inc(key)


def _metric(a: Aggregator, ev: Metric, now: float, seed: bool) -> None:
    a.custom.fold(ev, seed)


Fold = Callable[["Aggregator", Any, float, bool], None]
FOLDS: dict[type[Envelope], Fold] = {
    Heartbeat: _heartbeat,
    Lifecycle: _lifecycle,
    Health: _health,
    Cycle: _cycle,
    Decision: _decision,
    Order: _order,
    UnfilledOrder: _unfilled_order,
    Fill: _fill,
    BrokerCall: _broker_call,
    Guard: _guard,
    GuardCheck: _guard_check,
    StaleMark: _stale_mark,
    Risk: _risk,
    Account: _account,
    Mark: _mark,
    Ws: _ws,
    DataQuality: _data_quality,
    Error: _error,
    Metric: _metric,
}
