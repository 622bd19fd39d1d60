"""``--scenario incidents``: bots in trouble, so every seed alert has something to fire on.

Four bots of the fleet each play one incident from the moment they start, and keep it
up (a rule with ``for: 5m`` fires once five minutes have passed); the others stay calm:

- ``risk``: lost 91 % of its daily loss limit, 24 % below its peak equity, circuit
  breaker open, paused; every decision is blocked by the breaker.
- ``broker``: the exchange is slow and refuses: order submits take 5.5-9.5 s, two in
  three fail after retries, previews fail, the rate-limit window is nearly used up,
  the trading limit is low, orders stay open unfilled, the loop runs 6.5-9 s and
  raises on failed submits.
- ``feed``: the market-data websocket reconnects every pass, one symbol's marks stop
  after the first pass (stale marks, a guard tripping on them every pass, failed
  checks, a low data-quality score, an error per pass), the feed's heartbeats lag.
- ``halted``: a bot whose trading loop hung, and then whose process died. It starts by
  publishing what its outbox held (``ts`` set to when each happened, as a replaying
  outbox does): its last trade two hours old, its last account snapshot over half an
  hour old, its last loop pass ten minutes old. The process then goes on sending
  heartbeats and marks, live, with no loop passes, trades or snapshots, for
  ``HALTED_AFTER_S``, and dies: nothing more. (A bot the alerts service never saw live
  is history, not an outage: it must be seen alive to be missed.)

The live incident bots also send the custom metrics the seeds' catalogs name (cache
sizes, timings, grid levels, DCA steps, regime changes). Events are deterministic for a
seed except the halted bot's timestamps, which are relative to ``clock()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from tradewire.schemas import (
    BrokerCall,
    Cycle,
    DataQuality,
    DataQualityIssue,
    Decision,
    Envelope,
    Error,
    Guard,
    GuardCheck,
    Health,
    Lifecycle,
    Mark,
    Metric,
    Order,
    StaleMark,
    UnfilledOrder,
    Ws,
)
from tradewire.schemas._types import OrderStatus, Side

from ._model import HEARTBEAT_EVERY, RATE_LIMIT, SNAPSHOT_EVERY, BotModel

__all__ = ["ROLES", "ROLE_SUMMARY", "IncidentModel", "Role"]

Role = Literal["risk", "broker", "feed", "halted"]
ROLES: tuple[Role, ...] = ("risk", "broker", "feed", "halted")
ROLE_SUMMARY: dict[Role, str] = {
    "risk": "daily loss at 91% of its limit, 24% drawdown, circuit breaker open",
    "broker": "slow and refusing exchange: 5.5-9.5 s submits, 2 in 3 fail, previews fail, "
    "rate limit and trading limit low, orders stuck open",
    "feed": "websocket reconnect loop, one symbol's marks stopped, guard trips, errors",
    "halted": "loop hung: no pass for 10 min, trade for 2 h, snapshot for 33 min; dies 30 s in",
}
HALTED_AFTER_S = 30.0  # the halted bot's loop runs this long, then the process dies


@dataclass
class IncidentModel(BotModel):
    """A bot playing one incident; ``cycle()`` as :class:`BotModel`'s."""

    role: Role = "risk"
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.stuck: list[str] = []  # broker: orders accepted and never filled
        self.unfilled_reported = 0
        self.started_at = 0.0  # halted: when its loop began
        self.dead = self.symbols[0]  # feed: the symbol whose marks stopped
        if self.role == "risk":
            self.peak_equity = 12_600.0  # last week's high
            self.breaker = "open"

    def cycle(self) -> list[Envelope]:
        self.cycles += 1
        if self.role == "halted":
            return self._halted()
        out: list[Envelope] = []
        if self.cycles == 1:
            out.append(Lifecycle(state="started", version="sim-1.0", strategy="sim"))
            out += self._onset()
        if self.cycles % HEARTBEAT_EVERY == 1:
            out.append(self._heartbeat())
        for s in self.symbols:
            self.marks[s] *= 1.0 + self.rng.gauss(0.0, 0.002)
            if not (self.role == "feed" and s == self.dead and self.cycles > 1):
                out.append(Mark(symbol=s, price=self.marks[s]))
        ok = True
        if self.role == "risk":
            s = self.rng.choice(self.symbols)
            out.append(Decision(action="blocked", symbol=s, gate="circuit_breaker"))
        elif self.role == "broker":
            for _ in range(2):
                events, submitted = self._order_attempt()
                out += events
                ok = ok and submitted
        else:
            out += self._feed_trouble()
        if self.cycles % SNAPSHOT_EVERY == 0:
            out += self._incident_snapshots()
        duration = self.rng.uniform(6.5, 9.0) if self.role == "broker" else 0.08
        out.append(Cycle(duration_s=duration, ok=ok, error_type="" if ok else "TimeoutError"))
        return out

    # -- the incidents ---------------------------------------------------------------
    def _onset(self) -> list[Envelope]:
        if self.role == "risk":
            return [
                # The books before the loss: the day's PnL and the report's drawdown see it.
                self._account(open_orders=0),
                *self._losing_round_trip(),
                Guard(
                    guard="daily_loss",
                    category="limit",
                    action="tripped",
                    value=455.0,
                    limit=500.0,
                    recoverable=False,
                    reason="daily loss above 90% of limit",
                ),
                Lifecycle(state="paused", reason="daily loss guard"),
                Health(status="critical", component="risk", message="daily loss guard"),
            ]
        if self.role == "feed":
            return [Health(status="unhealthy", component="feed", message="feed stalled")]
        if self.role == "broker":
            # An order left open from before the incident: reported at the first snapshot,
            # so the unfilled-orders figures move from the start, not by chance.
            self.stuck.append(f"{self.bot}-o0")
        return []

    def _losing_round_trip(self) -> list[Envelope]:
        """Buy 4,500 of a symbol and sell it 10 % lower: 450 realized, plus fees."""
        s = self.symbols[0]
        mark = self.marks[s]
        qty = 4500.0 / mark
        out: list[Envelope] = []
        legs: tuple[tuple[Side, float], ...] = (("buy", mark), ("sell", mark * 0.9))
        for side, price in legs:
            out.append(self._execute(s, side, qty, price, strategy="sim"))
        return out

    def _order_attempt(self) -> tuple[list[Envelope], bool]:
        """The broker bot's order: (events, whether the submit went through)."""
        rng, r2 = self.rng, self.rng2
        self.orders += 1
        oid = f"{self.bot}-o{self.orders}"
        s = rng.choice(self.symbols)
        side: Side = "buy" if rng.random() < 0.5 else "sell"
        qty = round(500.0 / self.marks[s], 6)
        decision = f"{oid}-d" if self.orders % 4 else ""  # some lose their decision id
        out: list[Envelope] = [Decision(action="executed", symbol=s, decision_id=decision)]
        preview_ok = r2.random() >= 0.3
        out.append(
            BrokerCall(
                operation="preview",
                latency_s=round(rng.uniform(0.5, 1.5), 3),
                outcome="success" if preview_ok else "failure",
                reason="none" if preview_ok else "order_preview",
                category="orders",
                endpoint="/orders/preview",
                symbol=s,
            )
        )
        if not preview_ok:
            out.append(Error(component="order_tooling", error_type="PreviewFailed"))
            return out, True

        base = Order(
            symbol=s,
            side=side,
            qty=qty,
            status="submitted",
            order_id=oid,
            client_order_id=f"c-{oid}",
            decision_id=decision,
            strategy="sim",
        )

        def order(status: OrderStatus, **more: str | float | int) -> Order:
            return msgspec.structs.replace(base, status=status, **more)

        latency = round(rng.uniform(5.5, 9.5), 3)
        failed = r2.random() < 2 / 3
        self.rate_limit = 20 + self.orders % 60  # nearly used up
        out += [
            order("submitted"),
            BrokerCall(
                operation="submit",
                latency_s=latency,
                outcome="failure" if failed else "success",
                reason="timeout" if failed else "none",
                category="orders",
                endpoint="/orders",
                symbol=s,
                retries=2 if failed else 0,
                rate_limit_remaining=self.rate_limit,
                rate_limit_limit=RATE_LIMIT,
            ),
        ]
        if failed:
            status: OrderStatus = "failed" if r2.random() < 0.5 else "rejected"
            reason = "timeout" if status == "failed" else "rate_limit"
            out.append(order(status, reason=reason, latency_s=latency, retries=2))
            out.append(Error(component="broker", error_type="TimeoutError"))
            return out, False
        out.append(order("accepted", latency_s=latency))
        if r2.random() < 0.5:
            self.stuck.append(oid)  # never fills
            return out, True
        price = self.marks[s]
        fill = self._execute(s, side, qty, price, order_id=oid)
        out.append(fill)
        out.append(order("filled", filled_qty=qty, avg_fill_price=price, fee=fill.fee))
        return out, True

    def _feed_trouble(self) -> list[Envelope]:
        now, r2 = self.clock(), self.rng2
        self.reconnects += 1
        gaps = self.reconnects * 2
        return [
            Ws(state="disconnected", reconnect_count=self.reconnects - 1, last_close_ts=now),
            Ws(state="reconnecting", reconnect_count=self.reconnects, last_error_ts=now),
            Ws(
                state="connected",
                reconnect_count=self.reconnects,
                gap_count=gaps,
                last_message_ts=now,
                last_heartbeat_ts=now - 45.0,
                last_close_ts=now,
                last_error_ts=now,
                heartbeat_lag_s=round(r2.uniform(20.0, 60.0), 2),
            ),
            StaleMark(symbol=self.dead, age_s=45.0, threshold_s=30.0, reduce_only=True),
            Guard(
                guard="mark_staleness",
                category="data",
                action="tripped",
                value=45.0,
                limit=30.0,
                reason=f"no mark for {self.dead}",
            ),
            GuardCheck(guard="mark_staleness", ok=False, category="data"),
            GuardCheck(guard="slippage_guard", ok=False, category="action"),
            GuardCheck(guard="ticker_freshness", ok=False, category="data"),
            Decision(action="blocked", symbol=self.dead, gate="mark_staleness"),
            Error(component="market_data", error_type="StaleFeed", message=f"{self.dead}"),
        ]

    def _incident_snapshots(self) -> list[Envelope]:
        out: list[Envelope] = []
        if self.role == "broker":
            out.append(self._account(open_orders=len(self.stuck), limit_remaining=600.0))
            # The bot reports its oldest stuck order, once, and cancels it.
            if self.stuck:
                oid = self.stuck.pop(0)
                out.append(
                    UnfilledOrder(
                        order_id=oid,
                        symbol=self.symbols[0],
                        age_s=600.0,
                        status="OPEN",
                        threshold_s=300.0,
                    )
                )
                out.append(
                    Order(
                        symbol=self.symbols[0],
                        side="buy",
                        qty=0.0,
                        status="cancelled",
                        order_id=oid,
                    )
                )
        else:
            out.append(self._account(open_orders=0))
        out.append(self._risk())
        for s in self.symbols:
            low = self.role == "feed" and s == self.dead
            issues = [DataQualityIssue(issue_type="gap", severity="high", count=7)] if low else []
            out.append(
                DataQuality(symbol=s, interval="1m", score=0.3 if low else 1.0, issues=issues)
            )
        return out + self._custom_metrics()

    def _custom_metrics(self) -> list[Envelope]:
        """The numbers GPT-Trader's and TRADERAGENT's catalogs name that only a bot knows."""
        r = self.rng2
        ok = {"result": "ok"}
        return [
            Metric(name="deque_cache_fill_ratio", value=round(r.uniform(0.2, 0.9), 3)),
            Metric(name="event_store_cache_size", value=float(r.randint(100, 10_000))),
            Metric(
                name="equity_computation_seconds",
                value=r.uniform(0.001, 0.05),
                type="histogram",
                labels=ok,
            ),
            Metric(
                name="positions_fetch_seconds",
                value=r.uniform(0.01, 0.5),
                type="histogram",
                labels=ok,
            ),
            Metric(name="profile_duration_seconds", value=r.uniform(0.001, 0.02), type="histogram"),
            Metric(
                name="ticker_cache_unavailable_total",
                value=float(self.role == "feed"),
                type="counter",
            ),
            Metric(
                name="validation_escalations_total",
                value=float(self.role != "risk"),
                type="counter",
            ),
            Metric(name="grid_levels_active", value=float(r.randint(4, 12))),
            Metric(name="dca_steps_active", value=float(r.randint(0, 5))),
            Metric(name="dca_safety_orders_filled", value=1.0, type="counter"),
            Metric(name="regime_changes_total", value=float(r.random() < 0.3), type="counter"),
        ]

    def _halted(self) -> list[Envelope]:
        """Its outbox first, then heartbeats and marks with the loop hung, then nothing."""
        now = self.clock()
        if self.cycles == 1:
            self.started_at = now
            return self._replay(now)
        if now - self.started_at > HALTED_AFTER_S:
            return []  # the process died
        out: list[Envelope] = []
        if self.cycles % HEARTBEAT_EVERY == 1:
            out.append(self._heartbeat())
        out += [Mark(symbol=m, price=self.marks[m]) for m in self.symbols]
        return out

    def _replay(self, now: float) -> list[Envelope]:
        """What the halted bot's outbox held, each event at the time it happened."""
        s = self.symbols[0]
        price = self.marks[s]
        qty = round(1000.0 / price, 6)
        fill = self._execute(s, "buy", qty, price, order_id="h-o1")  # still held
        events: list[tuple[float, Envelope]] = [
            (7300.0, Lifecycle(state="started", version="sim-1.0", strategy="sim")),
            (
                7200.0,
                Order(
                    symbol=s,
                    side="buy",
                    qty=qty,
                    status="submitted",
                    order_id="h-o1",
                    decision_id="h-d1",
                ),
            ),
            (7200.0, fill),
            (
                7200.0,
                Order(
                    symbol=s, side="buy", qty=qty, status="filled", order_id="h-o1", filled_qty=qty
                ),
            ),
            (2000.0, self._account(open_orders=0)),
            (2000.0, self._risk()),
            (600.0, Cycle(duration_s=0.1)),
            (0.0, Ws(state="connected", last_message_ts=now, last_heartbeat_ts=now)),
        ]
        for ago, ev in events:
            ev.ts = now - ago
        return [ev for _, ev in events]
