"""What each TRADERAGENT ``TradingEvent`` means in tradewire events.

TRADERAGENT publishes ``{"event_type", "bot_name", "timestamp", "data"}`` as JSON on the
Redis channel ``trading_events:<bot_name>`` (``bot/orchestrator/events.py``). Redis
pub/sub is fire-and-forget: a message published while nobody is subscribed is gone,
and the messages carry no sequence number. The mapper therefore also counts what it
can tell was lost (:data:`LOSS_KINDS`), and reports each as a ``metric`` event
``bridge_detected_loss`` on the bot concerned.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tradewire.consumers.importers import parse_ts
from tradewire.schemas import (
    Envelope,
    Error,
    Fill,
    Health,
    Lifecycle,
    Mark,
    Metric,
    Order,
)
from tradewire.schemas._types import LifecycleState, Side

__all__ = ["LOSS_KINDS", "BotView", "TraderAgentMapper", "bot_id_of"]

LOSS_KINDS = {
    "fill_without_placement": "a fill for an order whose placement the bridge never saw",
    "start_without_stop": "a start while the bot was running: its stop (or crash) was not seen",
    "reconnect_window": "Redis was unreachable: whatever was published meanwhile is lost",
}
_LIFECYCLE: dict[str, LifecycleState] = {
    "bot_started": "started",
    "bot_stopped": "stopped",
    "bot_paused": "paused",
    "bot_resumed": "resumed",
    "bot_emergency_stop": "emergency_stop",
}
_MAX_ORDERS = 5000
_BAD_ID = re.compile(r"[^A-Za-z0-9_-]")


def bot_id_of(name: str) -> str:
    """A tradewire bot id for a TRADERAGENT bot name (spaces and dots become ``-``)."""
    return _BAD_ID.sub("-", name.strip())[:64]


def _num(x: Any) -> float | None:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _side(x: Any) -> Side | None:
    text = str(x or "").lower()
    if text in ("buy", "long", "bullish"):
        return "buy"
    if text in ("sell", "short", "bearish"):
        return "sell"
    return None


def _text(x: Any, limit: int = 128) -> str:
    return ("" if x is None else str(x))[:limit]


@dataclass
class _Placed:
    side: Side
    qty: float
    price: float | None


@dataclass
class BotView:
    """What the bridge knows of one bot: its orders and whether it is running."""

    running: bool = False
    orders: dict[str, _Placed] = field(default_factory=dict)
    losses: Counter[str] = field(default_factory=Counter)


class TraderAgentMapper:
    """One message in, its events (or why none) out; state per bot."""

    def __init__(self, symbols: dict[str, str] | None = None) -> None:
        # By bot id; a TRADERAGENT name given instead is turned into one.
        self.symbols = {bot_id_of(k): v for k, v in (symbols or {}).items()}
        self.bots: dict[str, BotView] = {}
        self.not_mapped: Counter[str] = Counter()

    def loss(self, bot: str, what: str) -> Metric:
        self.bots.setdefault(bot, BotView()).losses[what] += 1
        return Metric(name="bridge_detected_loss", value=1.0, type="counter", labels={"what": what})

    def map(self, message: dict[str, Any]) -> tuple[str, list[Envelope]]:
        """(the tradewire bot id, the events); no events when the type means nothing here."""
        bot = bot_id_of(_text(message.get("bot_name"), 256))
        etype = _text(message.get("event_type"))
        data = message.get("data")
        data = data if isinstance(data, dict) else {}
        view = self.bots.setdefault(bot, BotView())
        events = self._events(bot, view, etype, data)
        if not events:
            self.not_mapped[etype or "?"] += 1
        ts = parse_ts(message.get("timestamp")) or time.time()
        for event in events:
            event.ts = ts
        return bot, events

    def _events(self, bot: str, view: BotView, etype: str, d: dict[str, Any]) -> list[Envelope]:
        if etype in _LIFECYCLE:
            state = _LIFECYCLE[etype]
            out: list[Envelope] = []
            if state == "started" and view.running:
                out.append(self.loss(bot, "start_without_stop"))
            view.running = state in ("started", "resumed", "paused")
            out.append(
                Lifecycle(
                    state=state,
                    reason=_text(d.get("reason")),
                    version=_text(d.get("version")),
                    strategy=_text(d.get("strategy")),
                )
            )
            return out
        if etype == "order_placed":
            return self._placed(bot, view, d)
        if etype == "order_filled":
            return self._filled(bot, view, d)
        if etype == "order_failed":
            return self._failed(bot, d)
        if etype == "price_updated":
            price = _num(d.get("price"))
            if price is None or price < 0:
                return []
            return [Mark(symbol=self.symbols.get(bot, "unknown"), price=price)]
        if etype == "regime_changed":
            labels = {
                "regime": _text(d.get("new_regime")),
                "previous": _text(d.get("old_regime")),
                "recommended": _text(d.get("recommended_strategy")),
            }
            confidence = _num(d.get("confidence"))
            return [Metric(name="regime_confidence", value=confidence or 0.0, labels=labels)]
        if etype in ("health_degraded", "health_critical"):
            return [
                Health(
                    status="critical" if etype == "health_critical" else "degraded",
                    component=_text(d.get("strategy_id")),
                    message=_text(d.get("message"), 8000),
                )
            ]
        if etype == "error_occurred":
            return [
                Error(
                    component=_text(d.get("phase") or "bot"),
                    error_type="error_occurred",
                    message=_text(d.get("error"), 8000),
                )
            ]
        return []

    def _placed(self, bot: str, view: BotView, d: dict[str, Any]) -> list[Envelope]:
        trend = "position_id" in d
        order_id = _text(d.get("position_id") if trend else d.get("order_id"))
        side = _side(d.get("signal_type") or d.get("direction") if trend else d.get("side"))
        qty = _num(d.get("position_size") if trend else d.get("amount")) or 0.0
        price = _num(d.get("entry_price") if trend else d.get("price"))
        if side is None:
            return []
        view.orders[order_id] = _Placed(side, abs(qty), price)
        while len(view.orders) > _MAX_ORDERS:
            del view.orders[next(iter(view.orders))]
        return [
            Order(
                symbol=self.symbols.get(bot, "unknown"),
                side=side,
                status="accepted",  # published after the exchange took it
                qty=abs(qty),
                order_id=order_id,
                order_type="market" if trend else "limit",
                price=price if price is not None and price >= 0 else None,
                strategy=_text(d.get("strategy")),
            )
        ]

    def _filled(self, bot: str, view: BotView, d: dict[str, Any]) -> list[Envelope]:
        trend = "position_id" in d
        key = _text(d.get("position_id") if trend else d.get("order_id"))
        placed = view.orders.pop(key, None)
        out: list[Envelope] = []
        if placed is None:
            out.append(self.loss(bot, "fill_without_placement"))
        side = _side(d.get("side")) or (placed.side if placed else None)
        if trend and placed is not None:  # a trend fill closes the position
            side = "sell" if placed.side == "buy" else "buy"
        price = _num(d.get("exit_price") if trend else d.get("price"))
        if side is None or price is None or price < 0:
            return out
        qty = placed.qty if placed else 0.0
        symbol = self.symbols.get(bot, "unknown")
        order_id = f"{key}-exit" if trend else key
        out.append(
            Order(
                symbol=symbol,
                side=side,
                status="filled",
                qty=qty,
                order_id=order_id,
                filled_qty=qty,
                avg_fill_price=price,
                reason=_text(d.get("exit_reason") or "none"),
                strategy=_text(d.get("strategy")),
            )
        )
        out.append(Fill(symbol=symbol, side=side, qty=qty, price=price, order_id=order_id))
        return out

    def _failed(self, bot: str, d: dict[str, Any]) -> list[Envelope]:
        order = _text(d.get("order"), 2000)
        side = re.search(r"side='?(buy|sell)", order)
        amount = re.search(r"amount=Decimal\('([0-9.]+)'\)", order)
        if side is None:
            return [
                Error(
                    component="orders",
                    error_type="order_failed",
                    message=_text(d.get("error"), 8000),
                )
            ]
        return [
            Order(
                symbol=self.symbols.get(bot, "unknown"),
                side="sell" if side.group(1) == "sell" else "buy",
                status="failed",
                qty=float(amount.group(1)) if amount else 0.0,
                reason="order_failed",
            )
        ]
