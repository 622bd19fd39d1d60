"""The daily report's data: one :class:`BotReport` per bot plus a fleet-wide one.

Definitions (documented in docs/report.md):
- realized = sum of fill.realized_pnl; fees = sum of fill.fee; funding = change of the
  account's cumulative funding_pnl over the window; unrealized = the last account
  snapshot's; total = realized - fees + funding + unrealized.
- win rate, profit factor and Sharpe use closing fills (realized_pnl != 0); Sharpe is
  mean / population std of their PnL, not annualized.
- max drawdown is peak-to-trough on the account snapshots' equity within the window.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "Account",
    "BotReport",
    "Cycles",
    "DailyReport",
    "DataQuality",
    "Health",
    "Latency",
    "Orders",
    "Performance",
    "Pipeline",
    "Pnl",
    "Risk",
    "SymbolRow",
    "Trades",
]


class Account(msgspec.Struct):
    equity: float | None = None
    equity_start: float | None = None
    equity_change: float | None = None
    equity_change_pct: float | None = None


class Pnl(msgspec.Struct):
    realized: float = 0.0
    unrealized: float = 0.0
    funding: float = 0.0
    fees: float = 0.0
    total: float = 0.0


class Performance(msgspec.Struct):
    win_rate: float | None = None
    profit_factor: float | None = None
    sharpe_ratio: float | None = None
    max_drawdown: float = 0.0
    max_drawdown_pct: float = 0.0


class Trades(msgspec.Struct):
    fills: int = 0
    closing: int = 0
    winning: int = 0
    losing: int = 0
    avg_win: float | None = None
    avg_loss: float | None = None
    largest_win: float | None = None
    largest_loss: float | None = None


class SymbolRow(msgspec.Struct):
    symbol: str
    realized: float
    fills: int
    win_rate: float | None
    notional: float


class Risk(msgspec.Struct):
    guard_triggers: dict[str, int] = msgspec.field(default_factory=dict)
    circuit_breaker_timeline: list[tuple[float, str]] = msgspec.field(default_factory=list)


class Health(msgspec.Struct):
    stale_marks: int = 0
    ws_reconnects: int = 0
    unfilled_orders: int = 0
    api_errors: int = 0
    last_heartbeat_age_s: float | None = None
    liveness: str = "UNKNOWN"  # GREEN if a heartbeat is at most 300 s old, else RED


class Latency(msgspec.Struct):
    operation: str
    count: int
    p50: float
    p95: float
    p99: float


class Orders(msgspec.Struct):
    by_status: dict[str, int] = msgspec.field(default_factory=dict)
    rejections: dict[str, int] = msgspec.field(default_factory=dict)
    broker_latency_s: list[Latency] = msgspec.field(default_factory=list)


class Cycles(msgspec.Struct):
    count: int = 0
    errors: int = 0
    p50_s: float | None = None
    p95_s: float | None = None
    max_s: float | None = None


class DataQuality(msgspec.Struct):
    checks: int = 0
    avg_score: float | None = None
    min_score: float | None = None
    issues: dict[str, int] = msgspec.field(default_factory=dict)


class Pipeline(msgspec.Struct):
    events: int = 0
    quarantined: int | None = None  # fleet only: a quarantined message has no trusted bot
    lost: int = 0  # holes in seq of the runs seen in the window


class BotReport(msgspec.Struct):
    bot: str
    account: Account = msgspec.field(default_factory=Account)
    pnl: Pnl = msgspec.field(default_factory=Pnl)
    performance: Performance = msgspec.field(default_factory=Performance)
    trades: Trades = msgspec.field(default_factory=Trades)
    symbols: list[SymbolRow] = msgspec.field(default_factory=list)
    risk: Risk = msgspec.field(default_factory=Risk)
    health: Health = msgspec.field(default_factory=Health)
    orders: Orders = msgspec.field(default_factory=Orders)
    cycles: Cycles = msgspec.field(default_factory=Cycles)
    data_quality: DataQuality = msgspec.field(default_factory=DataQuality)
    alerts_fired: dict[str, int] = msgspec.field(default_factory=dict)
    pipeline: Pipeline = msgspec.field(default_factory=Pipeline)
    equity_curve: list[tuple[float, float]] = msgspec.field(default_factory=list)


class DailyReport(msgspec.Struct):
    """``fleet`` is the report's whole scope: the fleet, or the one bot of ``--bot``
    (then labelled with its id, and ``bots`` is empty)."""

    date: str
    window_start: float
    window_end: float
    generated_at: float
    fleet: BotReport
    bots: list[BotReport]
    bot: str | None = None
