"""The twelve event kinds (v1) and the envelope they share.

Wire rules (see docs/schema-evolution.md): new fields get defaults, a field
never changes type, unknown fields are ignored on decode (never forbidden),
and a breaking change bumps ``v``.
"""

from __future__ import annotations

from typing import TypeAlias

import msgspec

from ._types import (
    BotId,
    BreakerState,
    Count,
    GuardAction,
    Label,
    Liquidity,
    NonNegative,
    OrderStatus,
    Outcome,
    PositionSide,
    Score,
    Seconds,
    SeqNo,
    Severity,
    Side,
    Text,
    Version,
    WsState,
)

__all__ = [
    "EVENT_TYPES",
    "KINDS",
    "KIND_OF",
    "Account",
    "BrokerCall",
    "Cycle",
    "DataQuality",
    "DataQualityIssue",
    "Envelope",
    "Error",
    "Event",
    "Fill",
    "Guard",
    "Heartbeat",
    "Mark",
    "Order",
    "Position",
    "Risk",
    "Ws",
]


class Envelope(msgspec.Struct, kw_only=True, tag_field="kind"):
    """Fields every event carries; the publisher stamps them in ``emit``.

    They default to empty so a bot can build an event without them; the
    decoder refuses an event whose envelope was never stamped.
    """

    v: Version = 1
    id: Label = ""
    bot: BotId = ""
    run: Label = ""
    seq: SeqNo = 0
    ts: NonNegative = 0.0


class Heartbeat(Envelope, tag="heartbeat", kw_only=True):
    """The bot is alive; emitted on a timer by the publisher."""

    uptime_s: Seconds = 0.0
    version: Label = ""
    profile: Label = ""


class Cycle(Envelope, tag="cycle", kw_only=True):
    """One pass of the bot's trading loop."""

    duration_s: Seconds
    ok: bool = True
    error_type: Label = ""
    orders_submitted: Count = 0
    symbols: Count = 0


class Order(Envelope, tag="order", kw_only=True):
    """An order's state change (submitted, filled, rejected, ...)."""

    symbol: Label
    side: Side
    status: OrderStatus
    qty: NonNegative
    client_order_id: Label = ""
    order_id: Label = ""
    order_type: Label = "market"
    price: NonNegative | None = None
    reason: Label = "none"
    filled_qty: NonNegative = 0.0
    avg_fill_price: NonNegative | None = None
    fee: float = 0.0
    latency_s: Seconds | None = None
    retries: Count = 0
    reduce_only: bool = False


class Fill(Envelope, tag="fill", kw_only=True):
    """One execution against an order."""

    symbol: Label
    side: Side
    qty: NonNegative
    price: NonNegative
    order_id: Label = ""
    fee: float = 0.0
    realized_pnl: float = 0.0
    liquidity: Liquidity = "unknown"


class BrokerCall(Envelope, tag="broker_call", kw_only=True):
    """A timed call to the exchange API."""

    operation: Label
    latency_s: Seconds
    outcome: Outcome = "success"
    reason: Label = "none"


class Guard(Envelope, tag="guard", kw_only=True):
    """A risk guard tripped, cleared or warned."""

    guard: Label
    action: GuardAction
    category: Label = "generic"
    value: float | None = None
    limit: float | None = None
    recoverable: bool = True
    reason: Label = ""


class Risk(Envelope, tag="risk", kw_only=True):
    """A snapshot of the bot's risk state."""

    daily_loss: float = 0.0
    daily_loss_limit: NonNegative = 0.0
    drawdown_pct: float = 0.0
    exposure_usd: float = 0.0
    circuit_breaker: BreakerState = "closed"
    reduce_only: bool = False


class Position(msgspec.Struct, kw_only=True):
    """One open position inside an account snapshot."""

    symbol: Label
    qty: NonNegative
    side: PositionSide
    entry_price: NonNegative
    mark_price: NonNegative
    notional: float = 0.0
    unrealized_pnl: float = 0.0


class Account(Envelope, tag="account", kw_only=True):
    """A snapshot of the account: equity, PnL and open positions."""

    equity: float
    cash: float = 0.0
    realized_pnl: float = 0.0
    unrealized_pnl: float = 0.0
    funding_pnl: float = 0.0
    fees: float = 0.0
    positions: list[Position] = msgspec.field(default_factory=list)


class Mark(Envelope, tag="mark", kw_only=True):
    """A mark price the bot acted on."""

    symbol: Label
    price: NonNegative
    exchange_ts: NonNegative | None = None


class Ws(Envelope, tag="ws", kw_only=True):
    """The state of the bot's market-data websocket."""

    state: WsState
    reconnect_count: Count = 0
    gap_count: Count = 0


class DataQualityIssue(msgspec.Struct, kw_only=True):
    """One class of problem found in a data-quality check."""

    issue_type: Label
    severity: Severity = "low"
    count: Count = 1


class DataQuality(Envelope, tag="data_quality", kw_only=True):
    """The result of a data-quality check on one symbol and interval."""

    symbol: Label
    score: Score
    interval: Label = ""
    issues: list[DataQualityIssue] = msgspec.field(default_factory=list)


class Error(Envelope, tag="error", kw_only=True):
    """An error the bot caught and wants operators to see."""

    component: Label
    error_type: Label
    message: Text = ""


Event: TypeAlias = (
    Heartbeat
    | Cycle
    | Order
    | Fill
    | BrokerCall
    | Guard
    | Risk
    | Account
    | Mark
    | Ws
    | DataQuality
    | Error
)

# In the order of the design document.
EVENT_TYPES: tuple[type[Envelope], ...] = (
    Heartbeat,
    Cycle,
    Order,
    Fill,
    BrokerCall,
    Guard,
    Risk,
    Account,
    Mark,
    Ws,
    DataQuality,
    Error,
)

# kind name (the wire tag, also the last subject token) -> Struct type
KINDS: dict[str, type[Envelope]] = {str(t.__struct_config__.tag): t for t in EVENT_TYPES}
# Struct type -> kind name; a dict lookup is cheaper than reading __struct_config__.
KIND_OF: dict[type[Envelope], str] = {t: k for k, t in KINDS.items()}
