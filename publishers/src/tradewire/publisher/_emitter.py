"""Typed helpers shared by every publisher: one method per kind and two timers.

Each method builds the event and hands it to ``emit``; its parameters mirror
the event's fields (a test keeps them in step with the schema).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

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
from tradewire.schemas._types import (
    BreakerState,
    GuardAction,
    Liquidity,
    OrderStatus,
    Outcome,
    Side,
    WsState,
)

from ._stamp import Stamper

__all__ = ["BrokerCallScope", "CycleScope", "Emitter"]

E = TypeVar("E", bound=Envelope)


class CycleScope:
    """Filled in by the bot inside ``with tel.cycle() as c:``."""

    __slots__ = ("orders_submitted", "symbols")

    def __init__(self) -> None:
        self.orders_submitted = 0
        self.symbols = 0


class BrokerCallScope:
    """Inside ``with tel.broker_call("submit") as call:``; set ``reason`` to classify a failure."""

    __slots__ = ("outcome", "reason")

    def __init__(self) -> None:
        self.outcome: Outcome = "success"
        self.reason = "none"


def _reason_of(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionError | OSError):
        return "network"
    return "error"


class Emitter:
    """Mixin: subclasses provide ``emit`` and the :class:`Stamper` that names the bot and run."""

    _stamper: Stamper

    @property
    def bot(self) -> str:
        return self._stamper.bot

    @property
    def run(self) -> str:
        """This publisher instance's id: the ``run`` of every event it emits."""
        return self._stamper.run

    def emit(self, event: E) -> E:  # pragma: no cover - overridden
        raise NotImplementedError

    @contextmanager
    def cycle(self) -> Iterator[CycleScope]:
        """Time one trading-loop pass; an exception marks it failed (and propagates)."""
        scope = CycleScope()
        start = time.perf_counter()
        error_type = ""
        try:
            yield scope
        except BaseException as exc:
            error_type = type(exc).__name__
            raise
        finally:
            self.emit(
                Cycle(
                    duration_s=time.perf_counter() - start,
                    ok=not error_type,
                    error_type=error_type,
                    orders_submitted=scope.orders_submitted,
                    symbols=scope.symbols,
                )
            )

    @contextmanager
    def broker_call(self, operation: str) -> Iterator[BrokerCallScope]:
        """Time one exchange call; an exception is a failure classified by its type."""
        scope = BrokerCallScope()
        start = time.perf_counter()
        try:
            yield scope
        except BaseException as exc:
            scope.outcome = "failure"
            if scope.reason == "none":
                scope.reason = _reason_of(exc)
            raise
        finally:
            self.emit(
                BrokerCall(
                    operation=operation,
                    latency_s=time.perf_counter() - start,
                    outcome=scope.outcome,
                    reason=scope.reason,
                )
            )

    def heartbeat(
        self, *, uptime_s: float = 0.0, version: str = "", profile: str = ""
    ) -> Heartbeat:
        return self.emit(Heartbeat(uptime_s=uptime_s, version=version, profile=profile))

    def order(
        self,
        *,
        symbol: str,
        side: Side,
        status: OrderStatus,
        qty: float,
        client_order_id: str = "",
        order_id: str = "",
        order_type: str = "market",
        price: float | None = None,
        reason: str = "none",
        filled_qty: float = 0.0,
        avg_fill_price: float | None = None,
        fee: float = 0.0,
        latency_s: float | None = None,
        retries: int = 0,
        reduce_only: bool = False,
    ) -> Order:
        return self.emit(
            Order(
                symbol=symbol,
                side=side,
                status=status,
                qty=qty,
                client_order_id=client_order_id,
                order_id=order_id,
                order_type=order_type,
                price=price,
                reason=reason,
                filled_qty=filled_qty,
                avg_fill_price=avg_fill_price,
                fee=fee,
                latency_s=latency_s,
                retries=retries,
                reduce_only=reduce_only,
            )
        )

    def fill(
        self,
        *,
        symbol: str,
        side: Side,
        qty: float,
        price: float,
        order_id: str = "",
        fee: float = 0.0,
        realized_pnl: float = 0.0,
        liquidity: Liquidity = "unknown",
    ) -> Fill:
        return self.emit(
            Fill(
                symbol=symbol,
                side=side,
                qty=qty,
                price=price,
                order_id=order_id,
                fee=fee,
                realized_pnl=realized_pnl,
                liquidity=liquidity,
            )
        )

    def guard(
        self,
        *,
        guard: str,
        action: GuardAction,
        category: str = "generic",
        value: float | None = None,
        limit: float | None = None,
        recoverable: bool = True,
        reason: str = "",
    ) -> Guard:
        return self.emit(
            Guard(
                guard=guard,
                action=action,
                category=category,
                value=value,
                limit=limit,
                recoverable=recoverable,
                reason=reason,
            )
        )

    def risk(
        self,
        *,
        daily_loss: float = 0.0,
        daily_loss_limit: float = 0.0,
        drawdown_pct: float = 0.0,
        exposure_usd: float = 0.0,
        circuit_breaker: BreakerState = "closed",
        reduce_only: bool = False,
    ) -> Risk:
        return self.emit(
            Risk(
                daily_loss=daily_loss,
                daily_loss_limit=daily_loss_limit,
                drawdown_pct=drawdown_pct,
                exposure_usd=exposure_usd,
                circuit_breaker=circuit_breaker,
                reduce_only=reduce_only,
            )
        )

    def account(
        self,
        *,
        equity: float,
        cash: float = 0.0,
        realized_pnl: float = 0.0,
        unrealized_pnl: float = 0.0,
        funding_pnl: float = 0.0,
        fees: float = 0.0,
        positions: list[Position] | None = None,
    ) -> Account:
        return self.emit(
            Account(
                equity=equity,
                cash=cash,
                realized_pnl=realized_pnl,
                unrealized_pnl=unrealized_pnl,
                funding_pnl=funding_pnl,
                fees=fees,
                positions=positions or [],
            )
        )

    def mark(self, *, symbol: str, price: float, exchange_ts: float | None = None) -> Mark:
        return self.emit(Mark(symbol=symbol, price=price, exchange_ts=exchange_ts))

    def ws(self, *, state: WsState, reconnect_count: int = 0, gap_count: int = 0) -> Ws:
        return self.emit(Ws(state=state, reconnect_count=reconnect_count, gap_count=gap_count))

    def data_quality(
        self,
        *,
        symbol: str,
        score: float,
        interval: str = "",
        issues: list[DataQualityIssue] | None = None,
    ) -> DataQuality:
        return self.emit(
            DataQuality(symbol=symbol, score=score, interval=interval, issues=issues or [])
        )

    def error(self, *, component: str, error_type: str, message: str = "") -> Error:
        return self.emit(Error(component=component, error_type=error_type, message=message))
