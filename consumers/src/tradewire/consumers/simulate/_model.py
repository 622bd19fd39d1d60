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
    Envelope,
    Error,
    Fill,
    Guard,
    Heartbeat,
    Mark,
    Order,
    Position,
    Risk,
    Ws,
)
from tradewire.schemas._types import BreakerState, OrderStatus, Side

from ._incidents import INCIDENT_DRAWDOWN_PCT, IncidentKind

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
        if self.cycles % HEARTBEAT_EVERY == 1:
            out.append(Heartbeat(uptime_s=float(self.cycles), version="sim-1.0", profile="sim"))
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

        out: list[Envelope] = [order("submitted")]
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
        out.append(BrokerCall(operation="submit", latency_s=latency))
        filled = round(qty * rng.uniform(0.3, 0.9), 6) if rng.random() < f.partial else qty
        price = mark * (1 + rng.gauss(0.0, 0.0003))
        fee = filled * price * FEE_RATE
        realized = book.apply(side, filled, price)
        self.realized += realized
        self.fees += fee
        out.append(
            Fill(
                symbol=s,
                side=side,
                qty=filled,
                price=price,
                order_id=oid,
                fee=fee,
                realized_pnl=realized,
                liquidity="taker",
            )
        )
        out.append(
            order(
                "filled" if filled == qty else "partially_filled",
                filled_qty=filled,
                avg_fill_price=price,
                fee=fee,
                latency_s=latency,
            )
        )
        return out

    def _guard(self) -> list[Envelope]:
        guard, category = self.rng.choice(GUARDS)
        if guard == "volatility_circuit_breaker":
            self.breaker = "open"
        return [
            Guard(
                guard=guard,
                category=category,
                action="tripped",
                value=round(self.rng.uniform(0.5, 2.0), 4),
                limit=1.0,
                recoverable=True,
                reason=f"{guard} above limit",
            )
        ]

    def _snapshots(self) -> list[Envelope]:
        rng, f = self.rng, self.faults
        out: list[Envelope] = []
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
        out.append(
            Account(
                equity=equity,
                cash=self.initial_equity + self.realized - self.fees,
                realized_pnl=self.realized,
                unrealized_pnl=self.unrealized(),
                fees=self.fees,
                positions=positions,
            )
        )
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
        loss = max(0.0, self.initial_equity - equity)
        drawdown = 100.0 * (self.peak_equity - equity) / self.peak_equity
        if "drawdown" in self.incidents:
            drawdown = max(drawdown, INCIDENT_DRAWDOWN_PCT)
        out.append(
            Risk(
                daily_loss=loss,
                daily_loss_limit=0.05 * self.initial_equity,
                drawdown_pct=drawdown,
                exposure_usd=self.exposure(),
                circuit_breaker=self.breaker,
                reduce_only=loss > 0.04 * self.initial_equity,
            )
        )
        s = rng.choice(self.symbols)
        issues = []
        if rng.random() < f.data_quality_issue * SNAPSHOT_EVERY:
            issues.append(
                DataQualityIssue(
                    issue_type=rng.choice(DQ_ISSUES),
                    severity=rng.choice(("low", "medium", "high")),
                    count=rng.randint(1, 5),
                )
            )
        score = 1.0 - 0.1 * sum(i.count for i in issues)
        out.append(DataQuality(symbol=s, interval="1m", score=max(0.0, score), issues=issues))
        return out
