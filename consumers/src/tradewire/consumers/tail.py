"""``tradewire tail``: a live, readable view of the events arriving on NATS."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import TextIO

from nats.aio.msg import Msg

from tradewire.schemas import (
    Account,
    BrokerCall,
    Cycle,
    DataQuality,
    Decision,
    Envelope,
    Error,
    EventError,
    Fill,
    Guard,
    GuardCheck,
    Health,
    Heartbeat,
    Lifecycle,
    Mark,
    Metric,
    Order,
    Risk,
    StaleMark,
    Subjects,
    UnfilledOrder,
    Ws,
    decode,
    kind_of,
)

from ._nats import connect_client

__all__ = ["describe", "tail"]


def _money(x: float) -> str:
    return f"{x:,.2f}"


def _detail(ev: Envelope) -> str:
    if isinstance(ev, Heartbeat):
        return f"up {ev.uptime_s:.0f}s {ev.version} {ev.profile}".rstrip()
    if isinstance(ev, Cycle):
        state = "ok" if ev.ok else f"ERROR {ev.error_type}"
        return f"{ev.duration_s * 1000:.1f} ms {state} orders={ev.orders_submitted}"
    if isinstance(ev, Order):
        price = f" @ {ev.price:g}" if ev.price is not None else ""
        extra = f" reason={ev.reason}" if ev.reason != "none" else ""
        return f"{ev.symbol} {ev.side} {ev.qty:g}{price} {ev.status}{extra}"
    if isinstance(ev, Fill):
        return f"{ev.symbol} {ev.side} {ev.qty:g} @ {ev.price:g} pnl={_money(ev.realized_pnl)}"
    if isinstance(ev, BrokerCall):
        return f"{ev.operation} {ev.outcome} {ev.latency_s * 1000:.1f} ms reason={ev.reason}"
    if isinstance(ev, Guard):
        on = f" {ev.symbol}" if ev.symbol else ""
        return f"{ev.guard}{on} {ev.action} ({ev.category}) {ev.reason}".rstrip()
    if isinstance(ev, Risk):
        return (
            f"loss {_money(ev.daily_loss)}/{_money(ev.daily_loss_limit)} "
            f"dd {ev.drawdown_pct:.2f}% breaker={ev.circuit_breaker}"
        )
    if isinstance(ev, Account):
        return (
            f"equity {_money(ev.equity)} realized {_money(ev.realized_pnl)} "
            f"unrealized {_money(ev.unrealized_pnl)} positions={len(ev.positions)}"
        )
    if isinstance(ev, Mark):
        return f"{ev.symbol} {ev.price:g}"
    if isinstance(ev, Ws):
        return f"{ev.state} reconnects={ev.reconnect_count} gaps={ev.gap_count}"
    if isinstance(ev, DataQuality):
        issues = ", ".join(f"{i.issue_type} x{i.count}" for i in ev.issues) or "no issues"
        return f"{ev.symbol} {ev.interval} score={ev.score:.2f} {issues}"
    if isinstance(ev, Error):
        return f"{ev.component} {ev.error_type}: {ev.message}"
    if isinstance(ev, Lifecycle):
        return f"{ev.state} {ev.version} {ev.reason}".rstrip()
    if isinstance(ev, Health):
        return f"{ev.component} {ev.status} {ev.message}".rstrip()
    if isinstance(ev, Decision):
        side = f" {ev.side}" if ev.side else ""
        gate = f" by {ev.gate}" if ev.gate else ""
        return f"{ev.symbol}{side} {ev.action}{gate} {ev.reason}".rstrip()
    if isinstance(ev, UnfilledOrder):
        return f"{ev.symbol} {ev.order_id} open {ev.age_s:.0f}s"
    if isinstance(ev, StaleMark):
        age = f" {ev.age_s:.0f}s old" if ev.age_s is not None else ""
        return f"{ev.symbol} stale{age}"
    if isinstance(ev, GuardCheck):
        return f"{ev.guard} {'ok' if ev.ok else 'FAILED'} ({ev.category})"
    if isinstance(ev, Metric):
        labels = ",".join(f"{k}={v}" for k, v in sorted(ev.labels.items()))
        return f"{ev.name}{{{labels}}} {ev.type} {ev.value:g}{ev.unit}"
    return ""  # pragma: no cover - every kind is handled above


def describe(event: Envelope) -> str:
    """One terminal line: time, bot, kind, then what matters for that kind."""
    clock = time.strftime("%H:%M:%S", time.localtime(event.ts))
    millis = int((event.ts % 1) * 1000)
    return f"{clock}.{millis:03d} {event.bot:<16} {kind_of(event):<12} {_detail(event)}"


async def tail(
    url: str,
    subjects: Subjects,
    *,
    bot: str = "*",
    kind: str = "*",
    count: int = 0,
    raw: bool = False,
    out: TextIO = sys.stdout,
    stop: asyncio.Event | None = None,
    on_event: Callable[[Envelope], None] | None = None,
    ready: asyncio.Event | None = None,
) -> int:
    """Print events live until ``count`` have arrived (0: until ``stop``); return how many.

    A plain subscription, so it shows what arrives from now on and adds no
    load to JetStream. Invalid messages are shown with the reason, not hidden.
    ``ready`` is set once the server has the subscription.
    """
    done = stop or asyncio.Event()
    seen = 0
    broken: list[BrokenPipeError] = []

    async def on_msg(msg: Msg) -> None:
        nonlocal seen
        if (count and seen >= count) or broken:  # already queued when we stopped: not shown
            return
        event: Envelope | None = None
        try:
            msg_bot, msg_kind = subjects.parse_event(msg.subject)
            event = decode(msg.data, expect_bot=msg_bot, expect_kind=msg_kind)
            line = msg.data.decode() if raw else describe(event)
        except EventError as exc:
            line = f"INVALID {msg.subject}: {exc}"
        try:
            out.write(line + "\n")
        except BrokenPipeError as exc:  # the reader went away (| head): stop, quietly
            broken.append(exc)
            done.set()
            return
        if event is not None and on_event:
            on_event(event)
        seen += 1
        if count and seen >= count:
            done.set()

    nc = await connect_client(url, name="tradewire-tail", reconnect=True)
    try:
        sub = await nc.subscribe(subjects.event(bot, kind), cb=on_msg)
        await nc.flush()
        if ready is not None:
            ready.set()
        await done.wait()
        await sub.unsubscribe()
    finally:
        await nc.close()
    if broken:
        raise broken[0]
    out.flush()
    return seen
