"""Events in, metric values out: the catalog and how each kind updates it.

Label values that come from bots (symbol, reason, guard, operation, ...) are
capped per bot and label name: past ``max_label_values`` distinct values, new
ones are reported as ``other`` and counted in ``pipeline_label_overflow_total``,
so one misbehaving bot cannot blow up the scrape.
"""

from __future__ import annotations

import time
from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tradewire.schemas import (
    Account,
    AlertChange,
    BrokerCall,
    Cycle,
    DataQuality,
    Envelope,
    Error,
    Fill,
    Guard,
    Heartbeat,
    Mark,
    Order,
    Risk,
    Ws,
    kind_of,
)

from ._families import Family, Labels, Registry

__all__ = ["Aggregator", "Limits", "Window"]

_BREAKER = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
_SUCCESS = frozenset({"accepted", "filled", "partially_filled"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True, kw_only=True)
class Limits:
    max_label_values: int = 100  # per bot and label name
    max_bots: int = 5000
    dedup_ids: int = 500_000  # recent event ids remembered to drop redeliveries
    bot_down_after_s: float = 120.0
    ws_stale_after_s: float = 60.0


@dataclass
class Window:
    """Fleet-wide counts over a sliding window, for the health signals."""

    seconds: float = 300.0
    events: deque[tuple[float, str, float]] = field(default_factory=deque)

    def add(self, now: float, what: str, value: float = 1.0) -> None:
        self.events.append((now, what, value))

    def trim(self, now: float) -> None:
        while self.events and self.events[0][0] < now - self.seconds:
            self.events.popleft()

    def values(self, now: float, what: str) -> list[float]:
        self.trim(now)
        return [v for _, w, v in self.events if w == what]


class Aggregator:
    """Holds every metric; ``apply`` one event at a time, ``registry.render`` to scrape."""

    def __init__(self, prefix: str = "tradewire", limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.registry = r = Registry(prefix)
        F = Family
        b = ("bot",)
        # GPT-Trader's in-process catalog.
        self.order_submission = r.add(
            F(
                "order_submission_total",
                "counter",
                (*b, "result", "reason", "side"),
                "Order outcomes: success, rejected, failed",
                "order",
            )
        )
        self.order_latency = r.add(
            F(
                "order_submission_latency_seconds",
                "histogram",
                (*b, "result", "side"),
                "Order submission latency",
                "order",
            )
        )
        self.broker_latency = r.add(
            F(
                "broker_call_latency_seconds",
                "histogram",
                (*b, "operation", "outcome", "reason"),
                "Exchange API call latency",
                "broker_call",
            )
        )
        self.guard_trips = r.add(
            F(
                "guard_trips_total",
                "counter",
                (*b, "guard", "category", "recoverable"),
                "Risk guard trips",
                "guard",
            )
        )
        self.cycle_duration = r.add(
            F(
                "cycle_duration_seconds",
                "histogram",
                (*b, "result"),
                "Trading loop pass duration; result ok or error",
                "cycle",
            )
        )
        self.breaker_state = r.add(
            F(
                "circuit_breaker_state",
                "gauge",
                b,
                "Circuit breaker: 0 closed, 1 half_open, 2 open",
                "risk",
            )
        )
        self.dq_score = r.add(
            F(
                "data_quality_score",
                "gauge",
                (*b, "symbol", "interval"),
                "Latest data-quality score, 0 to 1",
                "data_quality",
            )
        )
        self.dq_issues = r.add(
            F(
                "data_quality_issues",
                "gauge",
                (*b, "symbol", "interval"),
                "Issues found by the latest data-quality check",
                "data_quality",
            )
        )
        self.dq_issues_total = r.add(
            F(
                "data_quality_issues_total",
                "counter",
                (*b, "symbol", "interval", "issue_type", "severity"),
                "Data-quality issues found",
                "data_quality",
            )
        )
        self.equity = r.add(F("equity_dollars", "gauge", b, "Account equity", "account"))
        self.ws_connected = r.add(
            F("ws_connected", "gauge", b, "1 when the market-data websocket is connected", "ws")
        )
        # GPT-Trader names these ws_reconnect_count and ws_gap_count; promtool refuses a
        # "_count" suffix outside histograms and summaries, so they lose it here.
        self.ws_reconnect_count = r.add(
            F(
                "ws_reconnects",
                "gauge",
                b,
                "Reconnects since the bot started, as the bot reports",
                "ws",
            )
        )
        self.ws_gap_count = r.add(
            F(
                "ws_gaps",
                "gauge",
                b,
                "Sequence gaps in the market-data feed, as the bot reports",
                "ws",
            )
        )
        self.ws_age = r.add(
            F(
                "ws_last_message_age_seconds",
                "gauge",
                b,
                "Seconds since the bot's last mark (market-data message)",
                "scrape time (mark)",
            )
        )
        self.ws_stale = r.add(
            F(
                "ws_message_stale",
                "gauge",
                b,
                "1 when no mark arrived within ws_stale_after_s",
                "scrape time (mark)",
            )
        )
        # Playbook names for signals the catalog lacks.
        self.daily_loss = r.add(F("risk_daily_loss", "gauge", b, "Loss so far today", "risk"))
        self.daily_loss_limit = r.add(
            F("risk_daily_loss_limit", "gauge", b, "Daily loss limit", "risk")
        )
        self.drawdown = r.add(F("drawdown_pct", "gauge", b, "Drawdown from peak equity, %", "risk"))
        self.exposure = r.add(F("exposure_usd", "gauge", b, "Gross exposure", "risk"))
        self.breaker_triggered = r.add(
            F(
                "circuit_breaker_triggered",
                "gauge",
                b,
                "1 while the circuit breaker is not closed",
                "risk",
            )
        )
        self.staleness = r.add(
            F(
                "market_data_staleness_seconds",
                "gauge",
                (*b, "symbol"),
                "Seconds since the last mark of the symbol",
                "scrape time (mark)",
            )
        )
        self.account_age = r.add(
            F(
                "telemetry_account_age_seconds",
                "gauge",
                b,
                "Seconds since the last account snapshot",
                "scrape time (account)",
            )
        )
        self.heartbeat_age = r.add(
            F(
                "heartbeat_age_seconds",
                "gauge",
                b,
                "Seconds since the bot's last heartbeat",
                "scrape time (heartbeat)",
            )
        )
        self.bot_up = r.add(
            F(
                "bot_up",
                "gauge",
                b,
                "1 when a heartbeat arrived within bot_down_after_s",
                "scrape time (heartbeat)",
            )
        )
        self.ws_reconnects = r.add(
            F(
                "websocket_reconnects_total",
                "counter",
                b,
                "Websocket reconnects (ws events with state reconnecting)",
                "ws",
            )
        )
        self.stale_marks = r.add(
            F(
                "stale_marks_total",
                "counter",
                b,
                "Stale-mark detections (guard mark_staleness tripped)",
                "guard",
            )
        )
        self.total_pnl = r.add(
            F(
                "total_pnl_usd",
                "gauge",
                b,
                "realized + unrealized + funding - fees, latest snapshot",
                "account",
            )
        )
        self.realized = r.add(F("realized_pnl_usd", "gauge", b, "Realized PnL", "account"))
        self.unrealized = r.add(F("unrealized_pnl_usd", "gauge", b, "Unrealized PnL", "account"))
        self.funding = r.add(F("funding_pnl_usd", "gauge", b, "Funding PnL", "account"))
        self.sym_exposure = r.add(
            F(
                "symbol_exposure_usd",
                "gauge",
                (*b, "symbol"),
                "Notional of the open position",
                "account",
            )
        )
        self.sym_pnl = r.add(
            F(
                "symbol_pnl_usd",
                "gauge",
                (*b, "symbol"),
                "Unrealized PnL of the open position",
                "account",
            )
        )
        self.cycle_errors = r.add(
            F("cycle_errors_total", "counter", b, "Trading loop passes that raised", "cycle")
        )
        self.orders_submitted = r.add(
            F("orders_submitted_total", "counter", b, "Orders submitted", "order")
        )
        self.win_rate = r.add(
            F("win_rate", "gauge", b, "Winning / closing fills since this service started", "fill")
        )
        self.errors = r.add(
            F(
                "errors_total",
                "counter",
                (*b, "component", "error_type"),
                "Errors the bot reported",
                "error",
            )
        )
        # The pipeline's own health.
        self.events_total = r.add(
            F("pipeline_events_total", "counter", (*b, "kind"), "Events aggregated", "every event")
        )
        self.quarantined = r.add(
            F(
                "pipeline_quarantined_total",
                "counter",
                ("reason",),
                "Messages refused by this service",
                "invalid messages",
            )
        )
        self.lost = r.add(
            F(
                "pipeline_lost_events",
                "gauge",
                b,
                "Events missing from seq (max seq - events seen) in runs seen since start",
                "scrape time (every event)",
            )
        )
        self.duplicates = r.add(
            F(
                "pipeline_duplicates_total",
                "counter",
                (),
                "Redelivered events skipped",
                "every event",
            )
        )
        self.lag = r.add(
            F(
                "pipeline_consumer_lag",
                "gauge",
                (),
                "Messages waiting for this service's consumer",
                "consumer",
            )
        )
        # Like Prometheus' ALERTS: 1 per alert firing now. `labels` holds the rule's
        # extra labels (e.g. symbol=BTC-USD) as k=v pairs: their names vary by rule.
        self.alert_firing = r.add(
            F(
                "alert_firing",
                "gauge",
                (*b, "alertname", "severity", "labels"),
                "1 for each alert the alerts service has firing",
                "alerts service (state in NATS KV)",
            )
        )
        self.latency = r.add(
            F(
                "pipeline_event_latency_seconds",
                "histogram",
                (),
                "Event time to aggregation (bot clock vs this host's)",
                "every event",
                buckets=LATENCY_BUCKETS,
            )
        )
        self.overflow = r.add(
            F(
                "pipeline_label_overflow_total",
                "counter",
                (*b, "label"),
                "Label values reported as 'other' because of the per-bot cap",
                "every event",
            )
        )
        # State behind scrape-time values.
        self.last_mark: dict[str, dict[str, float]] = defaultdict(dict)
        self.last_account: dict[str, float] = {}
        self.last_heartbeat: dict[str, float] = {}
        self.latest_order: dict[str, dict[str, Any]] = {}
        self.latest_account: dict[str, dict[str, Any]] = {}
        self.runs: OrderedDict[tuple[str, str], list[int]] = OrderedDict()  # [max seq, seen]
        self.fills: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # [closing, wins]
        self.window = Window()
        self._seen_values: dict[tuple[str, str], set[str]] = {}
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._order_outcome: OrderedDict[str, None] = OrderedDict()
        self._bots: set[str] = set()
        self.staleness.computed = self._staleness
        self.ws_age.computed = self._ws_age
        self.ws_stale.computed = self._ws_stale
        self.account_age.computed = lambda now: [
            ((b_,), now - t) for b_, t in self.last_account.items()
        ]
        self.heartbeat_age.computed = lambda now: [
            ((b_,), now - t) for b_, t in self.last_heartbeat.items()
        ]
        self.bot_up.computed = lambda now: [
            ((b_,), 1.0 if now - t <= self.limits.bot_down_after_s else 0.0)
            for b_, t in self.last_heartbeat.items()
        ]
        self.lost.computed = self._lost
        self.win_rate.computed = lambda now: [
            ((b_,), w / c) for b_, (c, w) in self.fills.items() if c
        ]

    # -- scrape-time values -------------------------------------------------------------
    def _staleness(self, now: float) -> list[tuple[Labels, float]]:
        return [((b_, s), now - t) for b_, m in self.last_mark.items() for s, t in m.items()]

    def _ws_age(self, now: float) -> list[tuple[Labels, float]]:
        return [((b_,), now - max(m.values())) for b_, m in self.last_mark.items() if m]

    def _ws_stale(self, now: float) -> list[tuple[Labels, float]]:
        limit = self.limits.ws_stale_after_s
        return [
            ((b_,), 1.0 if now - max(m.values()) > limit else 0.0)
            for b_, m in self.last_mark.items()
            if m
        ]

    def _lost(self, now: float) -> list[tuple[Labels, float]]:
        lost: dict[str, float] = defaultdict(float)
        for (bot, _), (max_seq, seen) in self.runs.items():
            lost[bot] += max(0, max_seq - seen)
        return [((b_,), v) for b_, v in lost.items()]

    # -- helpers ------------------------------------------------------------------------
    def label(self, bot: str, name: str, value: str) -> str:
        """``value``, or ``other`` once this bot has used its quota of values for ``name``."""
        key = (bot, name)
        seen = self._seen_values.get(key)
        if seen is None:
            seen = self._seen_values[key] = set()
        if value in seen:
            return value
        if len(seen) < self.limits.max_label_values:
            seen.add(value)
            return value
        self.overflow.inc((bot, name))
        return "other"

    def _remember(self, store: OrderedDict[str, None], key: str, cap: int) -> bool:
        """True the first time ``key`` is seen (among the last ``cap`` keys)."""
        if key in store:
            return False
        store[key] = None
        if len(store) > cap:
            store.popitem(last=False)
        return True

    # -- events -------------------------------------------------------------------------
    def apply(self, ev: Envelope, now: float | None = None, *, seed: bool = False) -> bool:
        """Fold one event in; False if it was a redelivery (already counted) or refused.

        ``seed=True`` (start-up, from the last message per subject) sets state and gauges
        only: counters and histograms start at zero after a restart.
        """
        now = time.time() if now is None else now
        bot = ev.bot
        if bot not in self._bots:
            if len(self._bots) >= self.limits.max_bots:
                self.quarantined.inc(("too_many_bots",))
                return False
            self._bots.add(bot)
        if not seed:
            if not self._remember(self._ids, ev.id, self.limits.dedup_ids):
                self.duplicates.inc(())
                return False
            self.events_total.inc((bot, kind_of(ev)))
            self.latency.observe((), max(0.0, now - ev.ts))
            run = self.runs.get((bot, ev.run))
            if run is None:
                run = self.runs[(bot, ev.run)] = [0, 0]
                if len(self.runs) > 10_000:
                    self.runs.popitem(last=False)
            run[0] = max(run[0], ev.seq)
            run[1] += 1
        handler = _HANDLERS.get(type(ev))
        if handler is not None:
            handler(self, ev, now, seed)
        return True

    def _heartbeat(self, ev: Heartbeat, now: float, seed: bool) -> None:
        self.last_heartbeat[ev.bot] = max(ev.ts, self.last_heartbeat.get(ev.bot, 0.0))

    def _cycle(self, ev: Cycle, now: float, seed: bool) -> None:
        if seed:
            return
        self.cycle_duration.observe((ev.bot, "ok" if ev.ok else "error"), ev.duration_s)
        if not ev.ok:
            self.cycle_errors.inc((ev.bot,))

    def _order(self, ev: Order, now: float, seed: bool) -> None:
        self.latest_order[ev.bot] = msgspec.to_builtins(ev)
        if seed:
            return
        bot = ev.bot
        if ev.status == "submitted":
            self.orders_submitted.inc((bot,))
            return
        if ev.status in _SUCCESS:
            result = "success"
        elif ev.status in ("rejected", "failed"):
            result = ev.status
        else:
            return  # cancelled, expired: not a submission outcome
        # One outcome per order: "accepted" then "filled" is one success.
        if ev.order_id and not self._remember(
            self._order_outcome, f"{bot}\0{ev.order_id}", 200_000
        ):
            return
        reason = self.label(bot, "reason", ev.reason if result != "success" else "none")
        self.order_submission.inc((bot, result, reason, ev.side))
        if ev.latency_s is not None:
            self.order_latency.observe((bot, result, ev.side), ev.latency_s)
        self.window.add(now, "orders")
        if result != "success":
            self.window.add(now, "order_errors")
        if ev.retries:
            self.window.add(now, "order_retries")

    def _fill(self, ev: Fill, now: float, seed: bool) -> None:
        if seed or not ev.realized_pnl:
            return
        f = self.fills[ev.bot]
        f[0] += 1
        if ev.realized_pnl > 0:
            f[1] += 1

    def _broker_call(self, ev: BrokerCall, now: float, seed: bool) -> None:
        if seed:
            return
        bot = ev.bot
        labels = (
            bot,
            self.label(bot, "operation", ev.operation),
            ev.outcome,
            self.label(bot, "reason", ev.reason),
        )
        self.broker_latency.observe(labels, ev.latency_s)
        if ev.operation == "submit":
            self.window.add(now, "submit_latency", ev.latency_s)

    def _guard(self, ev: Guard, now: float, seed: bool) -> None:
        if seed or ev.action != "tripped":
            return
        bot = ev.bot
        self.guard_trips.inc(
            (
                bot,
                self.label(bot, "guard", ev.guard),
                self.label(bot, "category", ev.category),
                "true" if ev.recoverable else "false",
            )
        )
        self.window.add(now, "guard_trips")
        if ev.guard == "mark_staleness":
            self.stale_marks.inc((bot,))

    def _risk(self, ev: Risk, now: float, seed: bool) -> None:
        b = (ev.bot,)
        self.daily_loss.set(b, ev.daily_loss)
        self.daily_loss_limit.set(b, ev.daily_loss_limit)
        self.drawdown.set(b, ev.drawdown_pct)
        self.exposure.set(b, ev.exposure_usd)
        self.breaker_state.set(b, _BREAKER[ev.circuit_breaker])
        self.breaker_triggered.set(b, 0.0 if ev.circuit_breaker == "closed" else 1.0)

    def _account(self, ev: Account, now: float, seed: bool) -> None:
        bot = ev.bot
        if ev.ts < self.last_account.get(bot, 0.0):
            return  # an older snapshot arriving late must not roll the gauges back
        b = (bot,)
        self.last_account[bot] = ev.ts
        self.latest_account[bot] = msgspec.to_builtins(ev)
        self.equity.set(b, ev.equity)
        self.realized.set(b, ev.realized_pnl)
        self.unrealized.set(b, ev.unrealized_pnl)
        self.funding.set(b, ev.funding_pnl)
        self.total_pnl.set(b, ev.realized_pnl + ev.unrealized_pnl + ev.funding_pnl - ev.fees)
        self.sym_exposure.drop_bot(bot)
        self.sym_pnl.drop_bot(bot)
        for p in ev.positions:
            sym = self.label(bot, "symbol", p.symbol)
            self.sym_exposure.inc((bot, sym), abs(p.notional))
            self.sym_pnl.inc((bot, sym), p.unrealized_pnl)

    def _mark(self, ev: Mark, now: float, seed: bool) -> None:
        sym = self.label(ev.bot, "symbol", ev.symbol)
        marks = self.last_mark[ev.bot]
        marks[sym] = max(ev.ts, marks.get(sym, 0.0))

    def _ws(self, ev: Ws, now: float, seed: bool) -> None:
        b = (ev.bot,)
        self.ws_connected.set(b, 1.0 if ev.state == "connected" else 0.0)
        self.ws_reconnect_count.set(b, float(ev.reconnect_count))
        self.ws_gap_count.set(b, float(ev.gap_count))
        if not seed and ev.state == "reconnecting":
            self.ws_reconnects.inc(b)

    def _data_quality(self, ev: DataQuality, now: float, seed: bool) -> None:
        bot = ev.bot
        key = (bot, self.label(bot, "symbol", ev.symbol), self.label(bot, "interval", ev.interval))
        self.dq_score.set(key, ev.score)
        self.dq_issues.set(key, float(sum(i.count for i in ev.issues)))
        if seed:
            return
        for i in ev.issues:
            self.dq_issues_total.inc(
                (*key, self.label(bot, "issue_type", i.issue_type), i.severity), float(i.count)
            )

    def _error(self, ev: Error, now: float, seed: bool) -> None:
        if seed:
            return
        bot = ev.bot
        self.errors.inc(
            (
                bot,
                self.label(bot, "component", ev.component),
                self.label(bot, "error_type", ev.error_type),
            )
        )

    def forget_bot(self, bot: str) -> None:
        """Drop every series and all state of a bot (it was retired)."""
        for fam in self.registry.families.values():
            if fam.labels[:1] == ("bot",):
                fam.drop_bot(bot)
                for key in [k for k in fam.hists if k[0] == bot]:
                    del fam.hists[key]
                for key in [k for k in fam.rendered if k[0] == bot]:
                    del fam.rendered[key]
        for per_bot in (
            self.last_mark,
            self.last_account,
            self.last_heartbeat,
            self.latest_order,
            self.latest_account,
            self.fills,
        ):
            per_bot.pop(bot, None)
        for run in [k for k in self.runs if k[0] == bot]:
            del self.runs[run]
        for label in [k for k in self._seen_values if k[0] == bot]:
            del self._seen_values[label]
        self._bots.discard(bot)

    def set_alerts(self, firing: list[AlertChange]) -> None:
        """Replace the firing alerts (the alerts service's current list)."""
        fam = self.alert_firing
        fam.values = {
            (
                a.bot,
                a.rule,
                a.severity,
                ",".join(f"{k}={v}" for k, v in sorted(a.labels.items())),
            ): 1.0
            for a in firing
        }

    def snapshot(self, now: float) -> dict[str, Any]:
        """``/metrics.json``: every current value, plus each bot's latest order and account."""
        metrics: dict[str, list[dict[str, Any]]] = {}
        for fam in self.registry.families.values():
            name = self.registry.full_name(fam)
            if fam.kind == "histogram":
                metrics[name] = [
                    {
                        "labels": dict(zip(fam.labels, k, strict=True)),
                        "count": h.count,
                        "sum": h.sum,
                        "buckets": dict(
                            zip([str(x) for x in (*h.buckets, "+Inf")], h.cumulative(), strict=True)
                        ),
                    }
                    for k, h in fam.hists.items()
                ]
            else:
                metrics[name] = [
                    {"labels": dict(zip(fam.labels, k, strict=True)), "value": v}
                    for k, v in fam.samples(now)
                ]
        bots = {
            bot: {
                "latest_order_preview": self.latest_order.get(bot, {}),
                "latest_account_snapshot": self.latest_account.get(bot, {}),
            }
            for bot in sorted(self._bots)
        }
        return {"timestamp": now, "metrics": metrics, "bots": bots}


_HANDLERS: dict[type[Envelope], Any] = {
    Heartbeat: Aggregator._heartbeat,
    Cycle: Aggregator._cycle,
    Order: Aggregator._order,
    Fill: Aggregator._fill,
    BrokerCall: Aggregator._broker_call,
    Guard: Aggregator._guard,
    Risk: Aggregator._risk,
    Account: Aggregator._account,
    Mark: Aggregator._mark,
    Ws: Aggregator._ws,
    DataQuality: Aggregator._data_quality,
    Error: Aggregator._error,
}
