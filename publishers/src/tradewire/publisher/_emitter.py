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
from tradewire.schemas._types import (
    BreakerState,
    DecisionAction,
    GuardAction,
    HealthStatus,
    LifecycleState,
    Liquidity,
    MetricType,
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
    """Inside ``with tel.broker_call("submit") as call:``; set ``reason`` to classify a
    failure, and what the exchange said about retries and its rate limit."""

    __slots__ = ("outcome", "rate_limit_limit", "rate_limit_remaining", "reason", "retries")

    def __init__(self) -> None:
        self.outcome: Outcome = "success"
        self.reason = "none"
        self.retries = 0
        self.rate_limit_remaining: int | None = None
        self.rate_limit_limit: int | None = None


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
    def broker_call(
        self, operation: str, *, category: str = "", endpoint: str = "", symbol: str = ""
    ) -> Iterator[BrokerCallScope]:
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
                    category=category,
                    endpoint=endpoint,
                    symbol=symbol,
                    retries=scope.retries,
                    rate_limit_remaining=scope.rate_limit_remaining,
                    rate_limit_limit=scope.rate_limit_limit,
                )
            )

    def order_preview(
        self, *, symbol: str, latency_s: float = 0.0, ok: bool = True, reason: str = "none"
    ) -> BrokerCall:
        """An order preview the exchange accepted or refused (``reason``: why)."""
        return self.emit(
            BrokerCall(
                operation="preview",
                latency_s=latency_s,
                outcome="success" if ok else "failure",
                reason=reason,
                category="orders",
                symbol=symbol,
            )
        )

    def heartbeat(
        self,
        *,
        uptime_s: float = 0.0,
        version: str = "",
        profile: str = "",
        cpu_percent: float | None = None,
        memory_rss_bytes: int | None = None,
        memory_percent: float | None = None,
        open_files: int | None = None,
        threads: int | None = None,
        disk_percent: float | None = None,
        disk_used_bytes: int | None = None,
        net_sent_bytes: int | None = None,
        net_recv_bytes: int | None = None,
    ) -> Heartbeat:
        """A heartbeat by hand; the publisher's own timer fills in the process figures."""
        return self.emit(
            Heartbeat(
                uptime_s=uptime_s,
                version=version,
                profile=profile,
                cpu_percent=cpu_percent,
                memory_rss_bytes=memory_rss_bytes,
                memory_percent=memory_percent,
                open_files=open_files,
                threads=threads,
                disk_percent=disk_percent,
                disk_used_bytes=disk_used_bytes,
                net_sent_bytes=net_sent_bytes,
                net_recv_bytes=net_recv_bytes,
            )
        )

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
        decision_id: str = "",
        strategy: str = "",
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
                decision_id=decision_id,
                strategy=strategy,
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
        strategy: str = "",
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
                strategy=strategy,
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
        symbol: str = "",
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
                symbol=symbol,
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
        open_orders: int | None = None,
        fee_tier: str = "",
        limit_remaining: float | None = None,
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
                open_orders=open_orders,
                fee_tier=fee_tier,
                limit_remaining=limit_remaining,
            )
        )

    def mark(self, *, symbol: str, price: float, exchange_ts: float | None = None) -> Mark:
        return self.emit(Mark(symbol=symbol, price=price, exchange_ts=exchange_ts))

    def ws(
        self,
        *,
        state: WsState,
        reconnect_count: int = 0,
        gap_count: int = 0,
        last_message_ts: float | None = None,
        last_heartbeat_ts: float | None = None,
        last_close_ts: float | None = None,
        last_error_ts: float | None = None,
        heartbeat_lag_s: float | None = None,
    ) -> Ws:
        return self.emit(
            Ws(
                state=state,
                reconnect_count=reconnect_count,
                gap_count=gap_count,
                last_message_ts=last_message_ts,
                last_heartbeat_ts=last_heartbeat_ts,
                last_close_ts=last_close_ts,
                last_error_ts=last_error_ts,
                heartbeat_lag_s=heartbeat_lag_s,
            )
        )

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

    def lifecycle(
        self,
        *,
        state: LifecycleState,
        reason: str = "",
        version: str = "",
        build: str = "",
        pid: int | None = None,
        config_digest: str = "",
        strategy: str = "",
    ) -> Lifecycle:
        """Paused, resumed, emergency stop, ... (started and stopped come by themselves)."""
        return self.emit(
            Lifecycle(
                state=state,
                reason=reason,
                version=version,
                build=build,
                pid=pid,
                config_digest=config_digest,
                strategy=strategy,
            )
        )

    def health(self, *, status: HealthStatus, component: str = "", message: str = "") -> Health:
        return self.emit(Health(status=status, component=component, message=message))

    def decision(
        self,
        *,
        action: DecisionAction,
        symbol: str = "",
        side: Side | None = None,
        gate: str = "",
        reason: str = "",
        decision_id: str = "",
        strategy: str = "",
    ) -> Decision:
        return self.emit(
            Decision(
                action=action,
                symbol=symbol,
                side=side,
                gate=gate,
                reason=reason,
                decision_id=decision_id,
                strategy=strategy,
            )
        )

    def unfilled_order(
        self,
        *,
        order_id: str,
        symbol: str,
        age_s: float,
        side: Side | None = None,
        status: str = "",
        threshold_s: float | None = None,
    ) -> UnfilledOrder:
        return self.emit(
            UnfilledOrder(
                order_id=order_id,
                symbol=symbol,
                age_s=age_s,
                side=side,
                status=status,
                threshold_s=threshold_s,
            )
        )

    def stale_mark(
        self,
        *,
        symbol: str,
        age_s: float | None = None,
        threshold_s: float | None = None,
        reduce_only: bool = False,
    ) -> StaleMark:
        return self.emit(
            StaleMark(symbol=symbol, age_s=age_s, threshold_s=threshold_s, reduce_only=reduce_only)
        )

    def guard_check(self, *, guard: str, ok: bool = True, category: str = "generic") -> GuardCheck:
        return self.emit(GuardCheck(guard=guard, ok=ok, category=category))

    def metric(
        self,
        *,
        name: str,
        value: float,
        type: MetricType = "gauge",
        labels: dict[str, str] | None = None,
        unit: str = "",
    ) -> Metric:
        """A strategy's own number; ``type`` counter: ``value`` is the increment."""
        return self.emit(Metric(name=name, value=value, type=type, labels=labels or {}, unit=unit))
