"""The GPT-Trader mapping of the first importer (tradewire before issue 13), frozen.

It stays only so that :mod:`._gpt_trader` can recognise the rows it stored and give
them the same ids (``<run>-<seq>``, ``run`` from the bot id and the log's first record,
``seq`` counting the rows it mapped): upgrading the importer and importing the same
``events.db`` again then stores nothing twice. Do not change it: a change renumbers
those ids. Its mistakes (every trade ``accepted``, stale marks as guard trips, ...) are
why it was replaced; the store keeps what it wrote under those ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradewire.schemas import (
    Account,
    Envelope,
    Error,
    EventError,
    Guard,
    Heartbeat,
    Mark,
    Order,
    Position,
    Ws,
    validate,
)
from tradewire.schemas._types import OrderStatus, Side

__all__ = [
    "ImportResult",
    "gpt_trader_events",
    "loads",
    "map_row",
    "read_events_db",
    "read_events_jsonl",
    "ts_of",
]

Row = tuple[str, float | None, dict[str, Any]]  # (event_type, timestamp, payload)

_STATUS: dict[str, OrderStatus] = {
    "pending": "submitted",
    "submitted": "submitted",
    "new": "submitted",
    "open": "accepted",
    "accepted": "accepted",
    "filled": "filled",
    "done": "filled",
    "partially_filled": "partially_filled",
    "partial": "partially_filled",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "rejected": "rejected",
    "failed": "failed",
    "expired": "expired",
}


@dataclass
class ImportResult:
    rows: int = 0
    mapped: Counter[str] = field(default_factory=Counter)  # by our kind
    unknown: Counter[str] = field(default_factory=Counter)  # by their type
    invalid: Counter[str] = field(default_factory=Counter)  # mapped, then refused: by reason


def ts_of(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:  # GPT-Trader writes UTC without an offset
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()
    return None


def read_events_db(path: Path) -> Iterator[Row]:
    """Rows of GPT-Trader's SQLite ``events`` table, in id order (read-only)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for _id, ts, etype, payload in con.execute(
            "SELECT id, timestamp, event_type, payload FROM events ORDER BY id"
        ):
            yield str(etype), ts_of(ts), loads(payload)
    finally:
        con.close()


def read_events_jsonl(path: Path) -> Iterator[Row]:
    """Lines ``{"type", "data"}`` or ``{"event_type", "payload", "timestamp"}``."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            obj = loads(line)
            if obj.get("__unreadable__"):
                yield "", None, obj
                continue
            etype = obj.get("event_type") or obj.get("type") or ""
            data = obj.get("payload", obj.get("data", {}))
            data = data if isinstance(data, dict) else {}
            yield str(etype), ts_of(obj.get("timestamp") or data.get("timestamp")), data


def loads(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str | bytes) else text
    except (ValueError, TypeError):
        return {"__unreadable__": True}
    return value if isinstance(value, dict) else {"__unreadable__": True}


def _num(x: Any, default: float = 0.0) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return default


def _side(x: Any) -> Side:
    return "sell" if str(x).lower() in ("sell", "short") else "buy"


def _order(p: dict[str, Any], status: OrderStatus, reason: str = "none") -> Order:
    price = p.get("price")
    return Order(
        symbol=str(p.get("symbol", "")),
        side=_side(p.get("side")),
        status=status,
        qty=abs(_num(p.get("quantity", p.get("qty")))),
        client_order_id=str(p.get("client_order_id") or ""),
        order_id=str(p.get("order_id") or ""),
        order_type=str(p.get("order_type") or "market"),
        price=_num(price) if price not in (None, "", "market") else None,
        reason=reason,
    )


def _map_metric(m: dict[str, Any]) -> tuple[str, Envelope | None]:
    sub = str(m.get("event_type", ""))
    if sub == "cycle_metrics" and "equity" in m:
        positions = []
        for pos in m.get("positions") or []:
            if isinstance(pos, dict) and pos.get("symbol"):
                qty, mark = _num(pos.get("quantity")), _num(pos.get("mark_price"))
                entry = _num(pos.get("entry_price"))
                short = str(pos.get("side", "")).lower() in ("short", "sell") or qty < 0
                positions.append(
                    Position(
                        symbol=str(pos["symbol"]),
                        qty=abs(qty),
                        side="short" if short else "long",
                        entry_price=entry,
                        mark_price=mark,
                        notional=abs(qty) * mark,
                        unrealized_pnl=(mark - entry) * abs(qty) * (-1 if short else 1),
                    )
                )
        return sub, Account(equity=_num(m["equity"]), positions=positions)
    if sub == "order_submission_attempt":
        return sub, _order(m, "submitted")
    if sub == "order_rejected":
        return sub, _order(m, "rejected", str(m.get("reason") or "unknown"))
    if sub == "ws_mark_update" and m.get("symbol"):
        return sub, Mark(symbol=str(m["symbol"]), price=_num(m.get("mark")))
    if sub == "ws_stream_retry":
        return sub, Ws(state="reconnecting", gap_count=int(_num(m.get("gap_count"))))
    if sub in ("ws_stream_retry_exhausted", "ws_stream_exit"):
        return sub, Ws(state="disconnected", gap_count=int(_num(m.get("gap_count"))))
    if sub == "ws_stream_error":
        return sub, Error(
            component="websocket",
            error_type="ws_stream_error",
            message=str(m.get("error") or m.get("message") or "")[:8000],
        )
    return f"metric:{sub or '?'}", None


def map_row(etype: str, p: dict[str, Any]) -> tuple[str, Envelope | None]:
    """(their type, our event or None when it has no tradewire meaning)."""
    if etype == "trade":
        status = _STATUS.get(str(p.get("status", "")).lower(), "submitted")
        return etype, _order(p, status)
    if etype == "error":
        details = p.get("details")
        return etype, Error(
            component="gpt-trader",
            error_type=str(p.get("error") or "error"),
            message=json.dumps(details, default=str)[:8000] if details else "",
        )
    if etype == "guard_triggered":
        return etype, Guard(
            guard=str(p.get("guard") or "unknown"),
            action="tripped",
            category=str(p.get("category") or "generic"),
            recoverable=bool(p.get("recoverable", True)),
            reason=str(p.get("reason") or "")[:128],
        )
    if etype == "websocket_reconnect":
        return etype, Ws(
            state="connected" if p.get("connected") else "reconnecting",
            reconnect_count=int(_num(p.get("reconnect_count"))),
            gap_count=int(_num(p.get("gap_count"))),
        )
    if etype == "stale_mark_detected":
        return etype, Guard(
            guard="mark_staleness",
            action="tripped",
            category="data",
            reason=f"stale mark for {p.get('symbol', '?')}"[:128],
        )
    if etype == "heartbeat":
        return etype, Heartbeat(profile="gpt-trader")
    if etype == "price_tick" and p.get("symbol"):
        return etype, Mark(symbol=str(p["symbol"]), price=_num(p.get("price")))
    if etype == "metric" and isinstance(p.get("metrics"), dict):
        return _map_metric(p["metrics"])
    return etype or "?", None


def gpt_trader_events(rows: Iterator[Row], bot: str, result: ImportResult) -> Iterator[Envelope]:
    """Stamped, validated tradewire events for the rows; counts go to ``result``."""
    run = ""
    seq = 0
    for etype, row_ts, payload in rows:
        result.rows += 1
        if not run:  # the first record names the log, wherever the file lives
            first = json.dumps([etype, row_ts, payload], sort_keys=True, default=str)
            run = "gpt" + hashlib.sha256(f"{bot}\n{first}".encode()).hexdigest()[:13]
        if payload.get("__unreadable__"):
            result.unknown["unreadable payload"] += 1
            continue
        name, event = map_row(etype, payload)
        if event is None:
            result.unknown[name] += 1
            continue
        ts = row_ts
        if ts is None:
            ts = ts_of(payload.get("timestamp") or (payload.get("metrics") or {}).get("timestamp"))
        if ts is None or ts <= 0:
            result.invalid["no timestamp"] += 1
            continue
        seq += 1
        event.bot, event.run, event.seq, event.ts = bot, run, seq, ts
        event.id = f"{run}-{seq}"
        try:
            validate(event)
        except EventError as exc:
            result.invalid[exc.reason] += 1
            seq -= 1  # keep seq gap-free: a refused row takes no number
            continue
        result.mapped[type(event).__name__.lower()] += 1
        yield event
