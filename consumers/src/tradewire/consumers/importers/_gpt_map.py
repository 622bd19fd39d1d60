"""What each GPT-Trader row means in tradewire events (the table in docs/importers.md).

GPT-Trader spreads one fact over several rows (an order over a submission attempt, a
``trade`` row and the exchange's updates; the account over ``cycle_metrics``,
``pnl_update`` and ``funding_payment`` rows), so the mapper keeps a little state:
what it knows of each order, and the account as the rows describe it. The state is a
msgspec Struct, persisted with the follow watermark.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import msgspec

from tradewire.schemas import (
    Account,
    BrokerCall,
    Decision,
    Envelope,
    Error,
    Fill,
    Guard,
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
from tradewire.schemas._types import OrderStatus, Side

__all__ = ["AccountState", "GptTraderMapper", "MapState", "OrderInfo", "source_type"]

# How much the mapper remembers: enough for an order's life, bounded for a long follow.
MAX_ORDERS = 2000
MAX_DECISIONS = 500

# GPT-Trader's order statuses (its codec's output and Coinbase's user channel).
_STATUS: dict[str, OrderStatus] = {
    "pending": "submitted",
    "queued": "submitted",
    "new": "submitted",
    "submitted": "submitted",
    "open": "accepted",
    "accepted": "accepted",
    "cancel_queued": "accepted",
    "retry": "accepted",
    "retrying": "accepted",
    "partially_filled": "partially_filled",
    "partial_fill": "partially_filled",
    "partial": "partially_filled",
    "filled": "filled",
    "done": "filled",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "rejected": "rejected",
    "failed": "failed",
    "expired": "expired",
}

# Rows that carry no monitoring meaning of their own, with the reason the table shows.
_NOT_MAPPED = {
    "orderbook_snapshot": "market data, not telemetry",
    "trade_flow_summary": "market data, not telemetry",
    "user_backfill": "bookkeeping of the user-channel backfill",
    "user_backfill_watermark": "bookkeeping of the user-channel backfill",
    "position": "positions come from cycle metrics and position updates",
    "order_suppressed": "read-only broker: nothing was sent",
    "metric:position_metrics": "positions come from cycle metrics and position updates",
    "metric:position_drift": "positions come from cycle metrics and position updates",
}


class OrderInfo(msgspec.Struct, array_like=True):
    """What the log said about an order before (symbol, side, type, size, price)."""

    symbol: str
    side: Side
    order_type: str
    qty: float
    price: float | None
    client_order_id: str
    order_id: str


class AccountState(msgspec.Struct):
    """The account as the rows so far describe it."""

    equity: float | None = None
    positions: dict[str, Position] = msgspec.field(default_factory=dict)
    unrealized: float = 0.0
    realized: float = 0.0
    funding: float = 0.0
    fees: float = 0.0
    open_orders: int | None = None


class MapState(msgspec.Struct):
    """Everything the mapping carries from row to row (persisted by ``--follow``)."""

    seq: dict[str, int] = msgspec.field(default_factory=dict)  # events per source type
    v1_run: str = ""  # the first importer's run for this log (legacy ids)
    v1_seq: int = 0
    account: AccountState = msgspec.field(default_factory=AccountState)
    orders: dict[str, OrderInfo] = msgspec.field(default_factory=dict)  # by either id
    gate_decisions: list[str] = msgspec.field(default_factory=list)
    started_ts: float | None = None  # the last runtime_start
    fills_from_fill_rows: bool = False  # the log has the report's `fill` rows
    last_ts: float | None = None  # JSONL: the last time a line gave


Mapped = list[Envelope] | str  # the events, or why the row has none


def source_type(etype: str, payload: dict[str, Any]) -> str:
    """The row's type as the tables show it: ``metric:<subtype>`` for metric rows."""
    if etype == "metric":
        metrics = payload.get("metrics")
        sub = metrics.get("event_type") if isinstance(metrics, dict) else None
        return f"metric:{sub or '?'}"
    return etype or "?"


def _num(x: Any, default: float = 0.0) -> float:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default


def _opt(x: Any) -> float | None:
    return None if x in (None, "", "market") else _num(x)


def _text(x: Any, limit: int = 128) -> str:
    return ("" if x is None else str(x))[:limit]


def _side(x: Any) -> Side | None:
    text = str(x or "").lower()
    if text in ("buy", "long", "bid"):
        return "buy"
    if text in ("sell", "short", "ask"):
        return "sell"
    return None


def _obj(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _details(x: Any) -> str:
    return "" if not x else json.dumps(x, default=str, sort_keys=True)[:8000]


class GptTraderMapper:
    """Maps one row at a time; ``state`` carries what later rows need."""

    def __init__(self, state: MapState | None = None) -> None:
        self.state = state or MapState()
        self._rows: dict[str, Callable[[dict[str, Any], float], Mapped]] = {
            "runtime_start": self._runtime_start,
            "heartbeat": self._heartbeat,
            "price_tick": self._mark,
            "trade": self._trade,
            "user_order_update": self._order_update,
            "order_rejected": self._order_rejected_row,
            "user_fill": self._user_fill,
            "user_fill_backfill": self._user_fill,
            "fill": self._fill,
            "pnl_update": self._pnl_update,
            "funding_payment": self._funding,
            "position_update": self._position_update,
            "guard_triggered": self._guard,
            "api_error": self._api_error,
            "circuit_breaker_triggered": self._breaker,
            "stale_mark_detected": self._stale_mark,
            "websocket_reconnect": self._ws_reconnect,
            "unfilled_order_alert": self._unfilled,
            "trade_gate_blocked": self._gate_blocked,
            "order_decision_trace": self._decision_trace,
            "error": self._error,
            "order_reconciliation_drift": self._reconciliation,
            "order_reconciliation_recovered": self._reconciliation,
        }
        self._metrics: dict[str, Callable[[dict[str, Any], float], Mapped]] = {
            "cycle_metrics": self._cycle_metrics,
            "order_preview": self._preview,
            "order_submission_attempt": self._submission,
            "order_rejected": self._rejection,
            "ws_mark_update": self._mark,
            "ws_stream_error": self._stream_error,
            "ws_stream_retry": self._stream_down,
            "ws_stream_retry_exhausted": self._stream_down,
            "ws_stream_exit": self._stream_down,
            "funding_accrual": self._funding_accrual,
        }

    def map(self, etype: str, payload: dict[str, Any], ts: float) -> tuple[str, Mapped]:
        """(the row's source type, its events or why it has none)."""
        name = source_type(etype, payload)
        if name in _NOT_MAPPED:
            return name, _NOT_MAPPED[name]
        if etype == "metric":
            handler = self._metrics.get(name.removeprefix("metric:"))
            payload = payload["metrics"] if isinstance(payload.get("metrics"), dict) else {}
        else:
            handler = self._rows.get(etype)
        if handler is None:
            return name, "unknown type"
        return name, handler(payload, ts)

    # -- process and market data -------------------------------------------------
    def _runtime_start(self, p: dict[str, Any], ts: float) -> Mapped:
        self.state.started_ts = ts
        pid = p.get("pid")
        return [
            Lifecycle(
                state="started",
                version=_text(p.get("package_version")),
                build=_text(p.get("build_sha")),
                pid=pid if isinstance(pid, int) and pid >= 0 else None,
                config_digest=_text(p.get("config_digest")),
            )
        ]

    def _heartbeat(self, p: dict[str, Any], ts: float) -> Mapped:
        started = self.state.started_ts
        uptime = ts - started if started is not None and ts >= started else 0.0
        return [Heartbeat(profile="gpt-trader", uptime_s=uptime)]

    def _mark(self, p: dict[str, Any], ts: float) -> Mapped:
        if not p.get("symbol"):
            return "no symbol"
        # A price that is not a number stays NaN, so validation refuses the row.
        price = _num(p.get("price", p.get("mark")), math.nan)
        return [Mark(symbol=_text(p["symbol"]), price=price)]

    # -- orders ----------------------------------------------------------------
    def _remember(self, info: OrderInfo) -> None:
        orders = self.state.orders
        for key in (info.client_order_id, info.order_id):
            if key:
                orders.pop(key, None)
                orders[key] = info
        while len(orders) > MAX_ORDERS:
            del orders[next(iter(orders))]

    def _known(self, *ids: Any) -> OrderInfo | None:
        for key in ids:
            if key and str(key) in self.state.orders:
                return self.state.orders[str(key)]
        return None

    def _submission(self, m: dict[str, Any], ts: float) -> Mapped:
        side = _side(m.get("side"))
        if side is None:
            return "side unknown"
        info = OrderInfo(
            symbol=_text(m.get("symbol")),
            side=side,
            order_type=_text(m.get("order_type") or "unknown").lower(),
            qty=abs(_num(m.get("quantity"))),
            price=_opt(m.get("price")),
            client_order_id=_text(m.get("client_order_id")),
            order_id="",
        )
        self._remember(info)
        return [self._order(info, "submitted")]

    def _order(self, info: OrderInfo, status: OrderStatus, **fields: Any) -> Order:
        return Order(
            symbol=info.symbol,
            side="sell" if info.side == "sell" else "buy",
            status=status,
            qty=info.qty,
            client_order_id=info.client_order_id,
            order_id=info.order_id,
            order_type=info.order_type,
            price=info.price,
            **fields,
        )

    def _trade(self, p: dict[str, Any], ts: float) -> Mapped:
        before = self._known(p.get("client_order_id"), p.get("order_id"))
        side = _side(p.get("side")) or (before.side if before else None)
        if side is None:
            return "side unknown"
        price = _opt(p.get("price"))
        info = OrderInfo(
            symbol=_text(p.get("symbol") or (before.symbol if before else "")),
            side=side,
            order_type=before.order_type if before else "unknown",
            qty=abs(_num(p.get("quantity"), before.qty if before else 0.0)),
            price=price if price is not None or before is None else before.price,
            client_order_id=_text(p.get("client_order_id")),
            order_id=_text(p.get("order_id")),
        )
        self._remember(info)
        return [self._order(info, _STATUS.get(str(p.get("status", "")).lower(), "submitted"))]

    def _order_update(self, p: dict[str, Any], ts: float) -> Mapped:
        info = self._known(p.get("order_id"), p.get("client_order_id"))
        if info is None:
            return "update of an order the log never placed (side unknown)"
        status = _STATUS.get(str(p.get("status", "")).lower())
        if status is None:
            return f"unknown order status {str(p.get('status'))[:40]!r}"
        avg = _opt(p.get("avg_price"))
        return [
            self._order(
                info, status, filled_qty=abs(_num(p.get("filled_size"))), avg_fill_price=avg
            )
        ]

    def _order_rejected_row(self, p: dict[str, Any], ts: float) -> Mapped:
        info = self._known(p.get("order_id"), p.get("client_order_id"))
        if info is None:
            return "rejection of an order the log never placed (side unknown)"
        return [self._order(info, "rejected", reason=_text(p.get("status") or "rejected"))]

    def _rejection(self, m: dict[str, Any], ts: float) -> Mapped:
        reason = _text(m.get("reason") or "unknown")
        if m.get("symbol") == "*":  # a guard failure paused trading: no order existed
            return [Decision(action="blocked", gate=reason, reason=reason)]
        before = self._known(m.get("client_order_id"))
        side = _side(m.get("side")) or (before.side if before else None)
        if side is None:
            return "side unknown"
        info = OrderInfo(
            symbol=_text(m.get("symbol")),
            side=side,
            order_type=before.order_type if before else "unknown",
            qty=abs(_num(m.get("quantity"))),
            price=_opt(m.get("price")),
            client_order_id=_text(m.get("client_order_id")),
            order_id=before.order_id if before else "",
        )
        return [self._order(info, "rejected", reason=reason)]

    def _preview(self, m: dict[str, Any], ts: float) -> Mapped:
        preview = _obj(m.get("preview"))
        failed = preview.get("success") is False or bool(preview.get("error_response"))
        return [
            BrokerCall(
                operation="preview",
                latency_s=0.0,  # GPT-Trader does not time it
                outcome="failure" if failed else "success",
                category="orders",
                symbol=_text(m.get("symbol")),
            )
        ]

    def _unfilled(self, p: dict[str, Any], ts: float) -> Mapped:
        threshold = p.get("threshold_seconds")
        return [
            UnfilledOrder(
                order_id=_text(p.get("order_id")),
                symbol=_text(p.get("symbol")),
                age_s=max(_num(p.get("age_seconds")), 0.0),
                side=_side(p.get("side")),
                status=_text(p.get("status")),
                threshold_s=max(_num(threshold), 0.0) if threshold is not None else None,
            )
        ]

    # -- fills and the account -----------------------------------------------
    def _user_fill(self, p: dict[str, Any], ts: float) -> Mapped:
        if self.state.fills_from_fill_rows:
            return "the log's fill rows carry the fills"
        info = self._known(p.get("order_id"), p.get("client_order_id"))
        side = _side(p.get("side")) or (info.side if info else None)
        if side is None:
            return "side unknown"
        qty = p.get("fill_delta") if p.get("fill_delta") not in (None, "") else p.get("size")
        return [
            Fill(
                symbol=_text(p.get("product_id") or (info.symbol if info else "")),
                side=side,
                qty=abs(_num(qty)),
                price=_num(p.get("price")),
                order_id=_text(p.get("order_id")),
                fee=_num(p.get("fee", p.get("commission"))),
            )
        ]

    def _fill(self, p: dict[str, Any], ts: float) -> Mapped:
        info = self._known(p.get("order_id"))
        side = _side(p.get("side")) or (info.side if info else None)
        if side is None:
            return "side unknown"
        fee = _num(p.get("fee"))
        self.state.account.fees += fee
        return [
            Fill(
                symbol=_text(p.get("symbol") or (info.symbol if info else "")),
                side=side,
                qty=abs(_num(p.get("quantity", p.get("size")))),
                price=_num(p.get("price")),
                order_id=_text(p.get("order_id")),
                fee=fee,
                realized_pnl=_num(p.get("pnl")),
            )
        ]

    def _snapshot(self) -> Mapped:
        acct = self.state.account
        if acct.equity is None:
            return "no equity known yet (no cycle metrics before it)"
        return [
            Account(
                equity=acct.equity,
                realized_pnl=acct.realized,
                unrealized_pnl=acct.unrealized,
                funding_pnl=acct.funding,
                fees=acct.fees,
                positions=list(acct.positions.values()),
                open_orders=acct.open_orders,
            )
        ]

    def _cycle_metrics(self, m: dict[str, Any], ts: float) -> Mapped:
        acct = self.state.account
        if "equity" in m:
            acct.equity = _num(m["equity"])
        if isinstance(m.get("positions"), list):
            acct.positions = {}
            for pos in m["positions"]:
                if isinstance(pos, dict) and pos.get("symbol"):
                    qty = _num(pos.get("quantity"))
                    short = _side(pos.get("side")) == "sell" or qty < 0
                    self._position(str(pos["symbol"]), abs(qty), short, pos)
            acct.unrealized = sum(p.unrealized_pnl for p in acct.positions.values())
        if isinstance(m.get("open_orders"), int) and m["open_orders"] >= 0:
            acct.open_orders = m["open_orders"]
        return self._snapshot()

    def _position(self, symbol: str, qty: float, short: bool, pos: dict[str, Any]) -> None:
        mark = _num(pos.get("mark_price", pos.get("price")))
        old = self.state.account.positions.get(symbol)
        entry = _num(pos.get("entry_price"), old.entry_price if old else mark)
        self.state.account.positions[symbol] = Position(
            symbol=symbol[:128],
            qty=qty,
            side="short" if short else "long",
            entry_price=entry,
            mark_price=mark,
            notional=qty * mark,
            unrealized_pnl=(mark - entry) * qty * (-1 if short else 1),
        )

    def _pnl_update(self, p: dict[str, Any], ts: float) -> Mapped:
        acct = self.state.account
        acct.realized += _num(p.get("realized_pnl"))
        if p.get("unrealized_pnl") is not None:
            acct.unrealized = _num(p.get("unrealized_pnl"))
        return self._snapshot()

    def _funding(self, p: dict[str, Any], ts: float) -> Mapped:
        self.state.account.funding += _num(p.get("amount"))
        return self._snapshot()

    def _position_update(self, p: dict[str, Any], ts: float) -> Mapped:
        if not p.get("symbol"):
            return "no symbol"
        qty = _num(p.get("quantity"))
        if qty == 0:
            self.state.account.positions.pop(str(p["symbol"]), None)
        else:
            short = _side(p.get("side")) == "sell" or qty < 0
            self._position(str(p["symbol"]), abs(qty), short, p)
        return self._snapshot()

    def _funding_accrual(self, m: dict[str, Any], ts: float) -> Mapped:
        labels = {"symbol": _text(m["symbol"])} if m.get("symbol") else {}
        return [Metric(name="funding_accrual", value=_num(m.get("funding_amount")), labels=labels)]

    # -- risk and health -------------------------------------------------------
    def _guard(self, p: dict[str, Any], ts: float) -> Mapped:
        threshold = p.get("threshold", p.get("limit"))
        return [
            Guard(
                guard=_text(p.get("guard") or "unknown"),
                action="tripped",
                category=_text(p.get("category") or "generic"),
                recoverable=bool(p.get("recoverable", True)),
                reason=_text(p.get("reason")),
                symbol=_text(p.get("symbol")),
                limit=_num(threshold) if threshold is not None else None,
            )
        ]

    def _api_error(self, p: dict[str, Any], ts: float) -> Mapped:
        message = " ".join(
            x for x in (_text(p.get("reason"), 4000), _details(p.get("details"))) if x
        )
        return [Error(component="api", error_type="api_error", message=message[:8192])]

    def _breaker(self, p: dict[str, Any], ts: float) -> Mapped:
        return [Risk(circuit_breaker="open", reduce_only=p.get("action") == "reduce_only")]

    def _stale_mark(self, p: dict[str, Any], ts: float) -> Mapped:
        if not p.get("symbol"):
            return "no symbol"
        return [
            StaleMark(symbol=_text(p["symbol"]), reduce_only=bool(p.get("allowed_reduce_only")))
        ]

    def _ws_reconnect(self, p: dict[str, Any], ts: float) -> Mapped:
        reconnects = max(int(_num(p.get("reconnect_count"))), 0)
        gaps = max(int(_num(p.get("gap_count"))), 0)
        # The row says a reconnect happened; `connected` says how it ended.
        events: list[Envelope] = [
            Ws(state="reconnecting", reconnect_count=reconnects, gap_count=gaps)
        ]
        if p.get("connected") is True:
            events.append(Ws(state="connected", reconnect_count=reconnects, gap_count=gaps))
        return events

    def _stream_error(self, m: dict[str, Any], ts: float) -> Mapped:
        message = _text(m.get("error") or m.get("message"), 8000)
        return [Error(component="websocket", error_type="ws_stream_error", message=message)]

    def _stream_down(self, m: dict[str, Any], ts: float) -> Mapped:
        # A retry of the telemetry stream: the feed is down. The reconnect itself is its
        # websocket_reconnect row; counting this one too would count it twice.
        return [Ws(state="disconnected", gap_count=max(int(_num(m.get("gap_count"))), 0))]

    def _error(self, p: dict[str, Any], ts: float) -> Mapped:
        error = _text(p.get("error") or "error")
        component = "orders" if error.startswith(("order_", "broker_")) else "gpt-trader"
        return [Error(component=component, error_type=error, message=_details(p.get("details")))]

    def _reconciliation(self, p: dict[str, Any], ts: float) -> Mapped:
        drift = "unknown_bot_order_ids" in p or "drift" in str(p.get("event", ""))
        return [
            Health(
                status="degraded" if drift else "healthy",
                component="order_reconciliation",
                message=_details({k: v for k, v in p.items() if k != "timestamp"}),
            )
        ]

    # -- decisions ---------------------------------------------------------------
    def _gate_blocked(self, p: dict[str, Any], ts: float) -> Mapped:
        decision_id = _text(p.get("decision_id"))
        if decision_id:
            self.state.gate_decisions.append(decision_id)
            del self.state.gate_decisions[:-MAX_DECISIONS]
        return [
            Decision(
                action="blocked",
                symbol=_text(p.get("symbol")),
                side=_side(p.get("side")),
                gate=_text(p.get("gate")),
                reason=_text(p.get("reason")),
                decision_id=decision_id,
                strategy=_text(p.get("strategy")),
            )
        ]

    def _decision_trace(self, p: dict[str, Any], ts: float) -> Mapped:
        outcomes = _obj(p.get("outcomes"))
        gate = next(
            (
                stage
                for stage, o in outcomes.items()
                if stage != "result" and isinstance(o, dict) and o.get("status") == "blocked"
            ),
            "",
        )
        decision_id = _text(p.get("decision_id"))
        if gate and decision_id and decision_id in self.state.gate_decisions:
            return "the same decision as its trade_gate_blocked row"
        return [
            Decision(
                action="blocked" if gate else "executed",
                symbol=_text(p.get("symbol")),
                side=_side(p.get("side")),
                gate=_text(gate),
                reason=_text(p.get("reason")),
                decision_id=decision_id,
            )
        ]
