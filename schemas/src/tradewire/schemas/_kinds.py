"""The event kinds (v1) and the envelope they share.

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
    DecisionAction,
    GuardAction,
    HealthStatus,
    Label,
    LifecycleState,
    Liquidity,
    MetricLabels,
    MetricName,
    MetricType,
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
    Timestamp,
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
    "Decision",
    "Envelope",
    "Error",
    "Event",
    "Fill",
    "Guard",
    "GuardCheck",
    "Health",
    "Heartbeat",
    "Lifecycle",
    "Mark",
    "Metric",
    "Order",
    "Position",
    "Risk",
    "StaleMark",
    "UnfilledOrder",
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
    """The bot is alive; emitted on a timer by the publisher, which also samples its own
    process and host (no extra dependency: ``/proc`` where there is one). A field the
    platform cannot tell stays null."""

    uptime_s: Seconds = 0.0
    version: Label = ""
    profile: Label = ""
    cpu_percent: NonNegative | None = None  # the process, % of one core since the last beat
    memory_rss_bytes: Count | None = None
    memory_percent: NonNegative | None = None  # the process's RSS, % of the host's memory
    open_files: Count | None = None
    threads: Count | None = None
    disk_percent: NonNegative | None = None  # the outbox's filesystem, % used
    disk_used_bytes: Count | None = None
    net_sent_bytes: Count | None = None  # the host's interfaces, since boot
    net_recv_bytes: Count | None = None


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
    decision_id: Label = ""  # the trade decision this order carries out
    strategy: Label = ""


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
    strategy: Label = ""


class BrokerCall(Envelope, tag="broker_call", kw_only=True):
    """A timed call to the exchange API (``operation`` ``preview`` is an order preview)."""

    operation: Label
    latency_s: Seconds
    outcome: Outcome = "success"
    reason: Label = "none"
    category: Label = ""  # the API area: orders, market_data, accounts, ...
    endpoint: Label = ""
    symbol: Label = ""
    retries: Count = 0
    rate_limit_remaining: Count | None = None  # requests left in the exchange's window
    rate_limit_limit: Count | None = None


class Guard(Envelope, tag="guard", kw_only=True):
    """A risk guard tripped, cleared or warned."""

    guard: Label
    action: GuardAction
    category: Label = "generic"
    value: float | None = None
    limit: float | None = None
    recoverable: bool = True
    reason: Label = ""
    symbol: Label = ""  # the instrument a per-symbol guard (volatility) acted on, if any


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
    open_orders: Count | None = None
    fee_tier: Label = ""
    # What the exchange still lets the account trade (its trading limit), in USD.
    limit_remaining: NonNegative | None = None


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
    # When the bot last saw each (bot clock); consumers turn them into ages.
    last_message_ts: Timestamp | None = None
    last_heartbeat_ts: Timestamp | None = None
    last_close_ts: Timestamp | None = None
    last_error_ts: Timestamp | None = None
    heartbeat_lag_s: Seconds | None = None  # the feed's latest heartbeat delay


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


class Lifecycle(Envelope, tag="lifecycle", kw_only=True):
    """The bot process started, stopped, paused, resumed or stopped in an emergency.

    The publisher emits ``started`` when it starts and ``stopped`` when it closes."""

    state: LifecycleState
    reason: Label = ""
    version: Label = ""
    build: Label = ""  # e.g. a commit sha
    pid: Count | None = None
    config_digest: Label = ""
    strategy: Label = ""


class Health(Envelope, tag="health", kw_only=True):
    """The bot's own verdict on a component (a strategy, a feed): healthy to critical."""

    status: HealthStatus
    component: Label = ""
    message: Text = ""


class Decision(Envelope, tag="decision", kw_only=True):
    """A trade decision: carried out (``executed``) or stopped by a gate (``blocked``)."""

    action: DecisionAction
    symbol: Label = ""
    side: Side | None = None
    gate: Label = ""  # what blocked it
    reason: Label = ""
    decision_id: Label = ""
    strategy: Label = ""


class UnfilledOrder(Envelope, tag="unfilled_order", kw_only=True):
    """The bot noticed an order open for longer than it should be."""

    order_id: Label
    symbol: Label
    age_s: Seconds
    side: Side | None = None
    status: Label = ""  # the exchange's status text
    threshold_s: Seconds | None = None


class StaleMark(Envelope, tag="stale_mark", kw_only=True):
    """The bot found its mark price for a symbol too old to trade on."""

    symbol: Label
    age_s: Seconds | None = None
    threshold_s: Seconds | None = None
    reduce_only: bool = False  # the bot still allows reduce-only orders


class GuardCheck(Envelope, tag="guard_check", kw_only=True):
    """A risk guard or validation ran; ``ok`` false when it found a problem."""

    guard: Label
    ok: bool = True
    category: Label = "generic"


class Metric(Envelope, tag="metric", kw_only=True):
    """A strategy's own number (grid levels, DCA steps, ...): a gauge value, a counter
    increment (>= 0) or a histogram observation, with up to 8 labels."""

    name: MetricName
    value: float
    type: MetricType = "gauge"
    labels: MetricLabels = msgspec.field(default_factory=dict)
    unit: Label = ""


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
    | Lifecycle
    | Health
    | Decision
    | UnfilledOrder
    | StaleMark
    | GuardCheck
    | Metric
)

# In the order of the design document, then the kinds added since.
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
    Lifecycle,
    Health,
    Decision,
    UnfilledOrder,
    StaleMark,
    GuardCheck,
    Metric,
)

# kind name (the wire tag, also the last subject token) -> Struct type
KINDS: dict[str, type[Envelope]] = {str(t.__struct_config__.tag): t for t in EVENT_TYPES}
# Struct type -> kind name; a dict lookup is cheaper than reading __struct_config__.
KIND_OF: dict[type[Envelope], str] = {t: k for k, t in KINDS.items()}
