"""A deterministic model of one trading bot, for the fleet simulator.

Numbers are consistent the way a real bot's are: marks follow a random walk,
fills move positions with average-entry accounting, a fill that reduces a
position realizes exactly (exit - entry) * qty, and account and risk snapshots
are computed from those positions. The same seed gives the same events.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import get_args

import msgspec

from tradewire.schemas import (
    Account,
    BrokerCall,
    Cycle,
    DataQuality,
    DataQualityIssue,
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
    Position,
    Risk,
    StaleMark,
    UnfilledOrder,
    Ws,
)
from tradewire.schemas._types import BreakerState, OrderStatus, Side

from ._injected import INCIDENT_DRAWDOWN_PCT, IncidentKind

__all__ = ["BotModel", "FaultRates", "PositionBook"]

SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD", "AVAX-USD", "LINK-USD")
START_PRICES = {
    "BTC-USD": 64000.0,
    "ETH-USD": 3100.0,
    "SOL-USD": 150.0,
    "DOGE-USD": 0.15,
    "AVAX-USD": 35.0,
    "LINK-USD": 14.0,
}
REJECT_REASONS = (
    "insufficient_funds",
    "invalid_size",
    "rate_limit",
    "slippage_guard",
    "mark_staleness",
    "exchange_rules",
)
GUARDS = (
    ("daily_loss", "limit"),
    ("max_exposure", "limit"),
    ("volatility_circuit_breaker", "data"),
    ("api_health", "telemetry"),
)
DQ_ISSUES = ("gap", "spike", "volume_anomaly")
FEE_RATE = 0.0006
HEARTBEAT_EVERY = 10  # cycles
SNAPSHOT_EVERY = 5  # cycles
# The exchange's request window; a calm bot never uses more than half of it.
RATE_LIMIT = 1000


@dataclass(frozen=True, kw_only=True)
class FaultRates:
    """Per-cycle probabilities of the things that go wrong."""

    order: float = 0.35
    reject: float = 0.08
    partial: float = 0.12
    guard_trip: float = 0.01
    ws_reconnect: float = 0.01
    data_quality_issue: float = 0.05
    cycle_error: float = 0.01
    # Any failed preview fires GPT-Trader's CoinbaseTraderPreviewFailures: calm bots have none.
    preview_failure: float = 0.0
    decision_blocked: float = 0.05
    stale_mark: float = 0.002
    unfilled_order: float = 0.05


@dataclass
class PositionBook:
    """Signed quantity and average entry for one symbol."""

    qty: float = 0.0
    entry: float = 0.0

    def apply(self, side: str, qty: float, price: float) -> float:
        """Apply a fill; return the PnL it realized (before fees)."""
        signed = qty if side == "buy" else -qty
        realized = 0.0
        if self.qty and (self.qty > 0) != (signed > 0):
            closing = min(abs(signed), abs(self.qty))
            direction = 1.0 if self.qty > 0 else -1.0
            realized = (price - self.entry) * closing * direction
            self.qty += math.copysign(closing, signed)
            signed -= math.copysign(closing, signed)
            if abs(self.qty) < 1e-12:
                self.qty, self.entry = 0.0, 0.0
        if signed:
            total = abs(self.qty) + abs(signed)
            self.entry = (self.entry * abs(self.qty) + price * abs(signed)) / total
            self.qty += signed
        return realized


@dataclass
class BotModel:
    """One simulated bot; ``cycle()`` returns the events of one trading-loop pass."""

    bot: str
    seed: int
    faults: FaultRates = field(default_factory=FaultRates)
    initial_equity: float = 10_000.0

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}:{self.bot}")
        # The kinds added later draw from their own generator, so the first one's
        # sequence (and every number it produced before) stays as it was.
        self.rng2 = random.Random(f"{self.seed}:{self.bot}:2")
        self.rate_limit = RATE_LIMIT
        n = self.rng.randint(2, 4)
        self.symbols = sorted(self.rng.sample(SYMBOLS, n))
        self.marks = {s: START_PRICES[s] for s in self.symbols}
        self.books = {s: PositionBook() for s in self.symbols}
        self.realized = 0.0
        self.fees = 0.0
        self.peak_equity = self.initial_equity
        self.cycles = 0
        self.orders = 0
        self.reconnects = 0
        self.breaker: BreakerState = "closed"
        self.incidents: set[IncidentKind] = set()  # injected now (the runner sets them)

    # -- derived state -----------------------------------------------------------
    def unrealized(self) -> float:
        return sum((self.marks[s] - b.entry) * b.qty for s, b in self.books.items() if b.qty)

    def equity(self) -> float:
        return self.initial_equity + self.realized - self.fees + self.unrealized()

    def exposure(self) -> float:
        return sum(abs(b.qty) * self.marks[s] for s, b in self.books.items())

    # -- one cycle -----------------------------------------------------------------
    def cycle(self) -> list[Envelope]:
        rng, f = self.rng, self.faults
        self.cycles += 1
        if "breaker_open" in self.incidents:
            self.breaker = "open"
        out: list[Envelope] = []
        if self.cycles == 1:
            out.append(Lifecycle(state="started", version="sim-1.0", strategy="sim"))
        if self.cycles % HEARTBEAT_EVERY == 1:
            out.append(self._heartbeat())
        for s in self.symbols:
            self.marks[s] *= math.exp(rng.gauss(0.0, 0.002))
            out.append(Mark(symbol=s, price=self.marks[s]))
        if rng.random() < f.ws_reconnect:
            self.reconnects += 1
            out += [
                Ws(state="disconnected", reconnect_count=self.reconnects),
                Ws(state="reconnecting", reconnect_count=self.reconnects),
                Ws(state="connected", reconnect_count=self.reconnects, gap_count=rng.randint(0, 3)),
            ]
        submitted = 0
        if self.breaker != "open" and rng.random() < f.order:
            submitted = 1
            out += self._order()
        elif self.breaker == "open" and self.rng2.random() < f.order:
            out.append(Decision(action="blocked", gate="circuit_breaker", reason="breaker open"))
        out += self._extras()
        if rng.random() < f.guard_trip:
            out += self._guard()
        if self.cycles % SNAPSHOT_EVERY == 0:
            out += self._snapshots()
        error_type = ""
        if rng.random() < f.cycle_error:
            error_type = rng.choice(("TimeoutError", "ValueError", "KeyError"))
            out.append(
                Error(
                    component="strategy",
                    error_type=error_type,
                    message=f"simulated {error_type} in cycle {self.cycles}",
                )
            )
        out.append(
            Cycle(
                duration_s=rng.lognormvariate(-2.5, 0.6),
                ok=not error_type,
                error_type=error_type,
                orders_submitted=submitted,
                symbols=len(self.symbols),
            )
        )
        return out

    def _heartbeat(self) -> Heartbeat:
        r = self.rng2
        rss = int(r.uniform(60, 90) * 2**20)
        return Heartbeat(
            uptime_s=float(self.cycles),
            version="sim-1.0",
            profile="sim",
            cpu_percent=round(r.uniform(2.0, 20.0), 2),
            memory_rss_bytes=rss,
            memory_percent=round(rss / (16 * 2**30) * 100, 4),
            open_files=r.randint(8, 16),
            threads=4,
            disk_percent=round(r.uniform(30.0, 35.0), 2),
            disk_used_bytes=int(r.uniform(30, 35) * 2**30),
            net_sent_bytes=self.cycles * 2048,
            net_recv_bytes=self.cycles * 8192,
        )

    def _extras(self) -> list[Envelope]:
        """The rarer signals: guard checks, stale marks, strategy gauges."""
        r, f = self.rng2, self.faults
        out: list[Envelope] = []
        if r.random() < f.stale_mark:
            s = r.choice(self.symbols)
            out.append(StaleMark(symbol=s, age_s=round(r.uniform(31, 90), 1), threshold_s=30.0))
        if self.cycles % SNAPSHOT_EVERY == 0:
            out += [GuardCheck(guard=g, category=c) for g, c in GUARDS]
            out += [
                Metric(name="grid_levels_active", value=float(r.randint(4, 12))),
                Metric(name="dca_steps_active", value=float(r.randint(0, 5))),
                # Position sizes come from account snapshots; this one is the strategy's.
                Metric(
                    name="dca_safety_orders_filled", value=float(self.cycles % 2), type="counter"
                ),
                Metric(name="signals_total", value=1.0, type="counter"),
            ]
        return out

    def _order(self) -> list[Envelope]:
        rng, f = self.rng, self.faults
        s = rng.choice(self.symbols)
        book, mark = self.books[s], self.marks[s]
        # Lean towards reducing an open position so PnL gets realized.
        side: Side
        if book.qty and rng.random() < 0.6:
            side = "sell" if book.qty > 0 else "buy"
        else:
            side = rng.choice(get_args(Side))
        qty = round(rng.uniform(200.0, 1500.0) / mark, 6) or 1e-6
        self.orders += 1
        oid = f"{self.bot}-o{self.orders}"
        latency = rng.lognormvariate(-2.0, 0.5)

        def order(status: OrderStatus, **more: float | str | None) -> Order:
            return msgspec.convert(
                {
                    "symbol": s,
                    "side": side,
                    "qty": qty,
                    "client_order_id": f"c-{oid}",
                    "order_id": oid,
                    "price": mark,
                    "status": status,
                    **more,
                },
                Order,
            )

        r2 = self.rng2
        decision = f"{oid}-d"
        if r2.random() < f.decision_blocked:
            out_blocked: list[Envelope] = [
                Decision(
                    action="blocked",
                    symbol=s,
                    side=side,
                    gate="slippage_guard",
                    reason="expected slippage above limit",
                    decision_id=decision,
                    strategy="sim",
                )
            ]
            return out_blocked
        ok = r2.random() >= f.preview_failure
        out: list[Envelope] = [
            Decision(action="executed", symbol=s, side=side, decision_id=decision, strategy="sim"),
            BrokerCall(
                operation="preview",
                latency_s=round(latency / 2, 6),
                outcome="success" if ok else "failure",
                reason="none" if ok else "order_preview",
                category="orders",
                endpoint="/orders/preview",
                symbol=s,
            ),
        ]
        if not ok:
            return out
        self.rate_limit = self.rate_limit - 1 if self.rate_limit > RATE_LIMIT // 2 else RATE_LIMIT
        out.append(order("submitted", decision_id=decision, strategy="sim"))
        if rng.random() < f.reject:
            reason = rng.choice(REJECT_REASONS)
            out.append(
                BrokerCall(
                    operation="submit",
                    latency_s=latency,
                    outcome="failure",
                    reason="rate_limit" if reason == "rate_limit" else "error",
                )
            )
            out.append(order("rejected", reason=reason, latency_s=latency))
            return out
        out.append(
            BrokerCall(
                operation="submit",
                latency_s=latency,
                category="orders",
                endpoint="/orders",
                symbol=s,
                rate_limit_remaining=self.rate_limit,
                rate_limit_limit=RATE_LIMIT,
            )
        )
        filled = round(qty * rng.uniform(0.3, 0.9), 6) if rng.random() < f.partial else qty
        price = mark * (1 + rng.gauss(0.0, 0.0003))
        fill = self._execute(s, side, filled, price, order_id=oid, liquidity="taker")
        fee = fill.fee
        out.append(fill)
        out.append(
            order(
                "filled" if filled == qty else "partially_filled",
                filled_qty=filled,
                avg_fill_price=price,
                fee=fee,
                latency_s=latency,
                decision_id=decision,
                strategy="sim",
            )
        )
        if filled != qty and r2.random() < f.unfilled_order * 10:
            out.append(
                UnfilledOrder(
                    order_id=oid,
                    symbol=s,
                    side=side,
                    status="OPEN",
                    age_s=round(r2.uniform(600, 1200), 1),
                    threshold_s=600.0,
                )
            )
        return out

    def _execute(self, symbol: str, side: Side, qty: float, price: float, **more: str) -> Fill:
        """A fill: the book moves, its PnL is realized and its fee paid."""
        fee = qty * price * FEE_RATE
        realized = self.books[symbol].apply(side, qty, price)
        self.realized += realized
        self.fees += fee
        return msgspec.structs.replace(
            Fill(symbol=symbol, side=side, qty=qty, price=price, fee=fee, realized_pnl=realized),
            **more,
        )

    def _guard(self) -> list[Envelope]:
        guard, category = self.rng.choice(GUARDS)
        out: list[Envelope] = []
        if guard == "volatility_circuit_breaker":
            self.breaker = "open"
            out.append(Health(status="degraded", component="strategy", message="breaker open"))
        return [
            *out,
            Guard(
                guard=guard,
                category=category,
                action="tripped",
                value=round(self.rng.uniform(0.5, 2.0), 4),
                limit=1.0,
                recoverable=True,
                reason=f"{guard} above limit",
            ),
        ]

    def _account(self, **more: int | float | str | None) -> Account:
        """The account as the books say; ``more`` sets the optional fields."""
        equity = self.equity()
        self.peak_equity = max(self.peak_equity, equity)
        positions = [
            Position(
                symbol=s,
                qty=abs(b.qty),
                side="long" if b.qty > 0 else "short",
                entry_price=b.entry,
                mark_price=self.marks[s],
                notional=abs(b.qty) * self.marks[s],
                unrealized_pnl=(self.marks[s] - b.entry) * b.qty,
            )
            for s, b in self.books.items()
            if b.qty
        ]
        return msgspec.structs.replace(
            Account(
                equity=equity,
                cash=self.initial_equity + self.realized - self.fees,
                realized_pnl=self.realized,
                unrealized_pnl=self.unrealized(),
                fees=self.fees,
                positions=positions,
                fee_tier="advanced_1",
            ),
            **more,
        )

    def _risk(self) -> Risk:
        equity = self.equity()
        loss = max(0.0, self.initial_equity - equity)
        drawdown = 100.0 * (self.peak_equity - equity) / self.peak_equity
        if "drawdown" in self.incidents:  # injected (--incident drawdown:BOT:START)
            drawdown = max(drawdown, INCIDENT_DRAWDOWN_PCT)
        return Risk(
            daily_loss=loss,
            daily_loss_limit=0.05 * self.initial_equity,
            drawdown_pct=drawdown,
            exposure_usd=self.exposure(),
            circuit_breaker=self.breaker,
            reduce_only=loss > 0.04 * self.initial_equity,
        )

    def _snapshots(self) -> list[Envelope]:
        rng, f = self.rng, self.faults
        open_orders = sum(1 for b in self.books.values() if b.qty) % 3
        out: list[Envelope] = [self._account(open_orders=open_orders)]
        if self.breaker == "open" and "breaker_open" not in self.incidents:
            self.breaker = "half_open"
            out.append(
                Guard(
                    guard="volatility_circuit_breaker",
                    category="data",
                    action="cleared",
                    recoverable=True,
                    reason="volatility normal",
                )
            )
        elif self.breaker == "half_open":
            self.breaker = "closed"
            out.append(Health(status="healthy", component="strategy", message="breaker closed"))
        out.append(self._risk())
        s = rng.choice(self.symbols)
        issues = []
        if rng.random() < f.data_quality_issue * SNAPSHOT_EVERY:
            issues.append(
                DataQualityIssue(
                    issue_type=rng.choice(DQ_ISSUES),
                    severity=rng.choice(("low", "medium", "high")),
                    # 1 or 2: the score stays >= 0.8, under every seed's threshold.
                    count=1 + rng.randint(1, 5) // 5,
                )
            )
        score = 1.0 - 0.1 * sum(i.count for i in issues)
        out.append(DataQuality(symbol=s, interval="1m", score=max(0.0, score), issues=issues))
        return out
