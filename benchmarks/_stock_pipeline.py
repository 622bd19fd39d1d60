"""The stock baseline of ``whole_box.py``: store, metrics and alerts on nats-py's stock API.

usage: python benchmarks/_stock_pipeline.py store|metrics|alerts URL [--db F] [--port P]

Not the product: what a competent team would write with the documented APIs, so the
whole-box comparison measures what tradewire's own runtime adds. Each is one process
with a durable pull consumer (``stock-<service>``) and ``pull_subscribe().fetch(1000)``
in a loop, decoding with ``tradewire.schemas.decode`` (the same validation), then:

- store: fetches gathered up to 20,000 messages or 0.5 s, written with the product's
  ``StoreWriter.write`` (Arrow inserts, one transaction, the same dedup), then ``ack()``
  per message;
- metrics: prometheus_client on its own registry, served by ``start_http_server``: per
  event a labelled counter by bot and kind plus the kind's own series (cycle and broker
  call histograms, orders by status, fills, equity, drawdown, mark price, heartbeat
  time): fewer series than the metrics service keeps, which favours this side; ``ack()``
  per message;
- alerts: the product's rule ``Engine`` (the shipped default rules) fed per event and
  ticked every second; state changes published with ``js.publish``; ``ack()`` per
  message.

Each prints READY once its consumer exists, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from tradewire.consumers.alerts import DEFAULT_RULES, Engine, load_rules
from tradewire.consumers.runtime import Delivery
from tradewire.consumers.store import Problem, StoreWriter
from tradewire.publisher import ensure_alerts_stream, ensure_events_stream
from tradewire.schemas import (
    Account,
    BrokerCall,
    Cycle,
    Envelope,
    EventError,
    Fill,
    Heartbeat,
    Mark,
    Order,
    Risk,
    Subjects,
    decode,
    kind_of,
)

SUBJECTS = Subjects()
Handler = Callable[[list[Msg]], Awaitable[None]]


def decoded(msgs: list[Msg]) -> tuple[list[tuple[Envelope, Msg]], list[tuple[Msg, EventError]]]:
    good: list[tuple[Envelope, Msg]] = []
    bad: list[tuple[Msg, EventError]] = []
    for m in msgs:
        try:
            bot, kind = SUBJECTS.parse_event(m.subject)
            good.append((decode(m.data, expect_bot=bot, expect_kind=kind), m))
        except EventError as exc:
            bad.append((m, exc))
    return good, bad


async def consume(
    js: JetStreamContext, name: str, handle: Handler, stop: asyncio.Event, gather: int = 1000
) -> None:
    """fetch(1000) until stopped; ``handle`` gets up to ``gather`` messages (or 0.5 s)."""
    sub = await js.pull_subscribe(SUBJECTS.events_wildcard, durable=f"stock-{name}")
    print("READY", flush=True)
    held: list[Msg] = []
    since = time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(nats.errors.TimeoutError, TimeoutError):  # either, by path
            held += await sub.fetch(1000, timeout=0.5)
        if held and (len(held) >= gather or time.monotonic() - since >= 0.5):
            await handle(held)
            held, since = [], time.monotonic()
        elif not held:
            since = time.monotonic()
    if held:
        await handle(held)


async def store(js: JetStreamContext, db: Path, stop: asyncio.Event) -> None:
    writer = StoreWriter(db)

    async def handle(msgs: list[Msg]) -> None:
        good, bad = decoded(msgs)
        events = [(ev, delivery_of(m)) for ev, m in good]
        problems: list[tuple[Delivery, Problem]] = [(delivery_of(m), e) for m, e in bad]
        await asyncio.to_thread(writer.write, events, problems)
        for m in msgs:
            await m.ack()

    try:
        await consume(js, "store", handle, stop, gather=20_000)
    finally:
        writer.close()


def delivery_of(m: Msg) -> Delivery:
    """What the product's writer takes for a message, from nats-py's metadata."""
    md = m.metadata
    return Delivery(
        m.subject,
        m.data,
        m.reply or "",
        md.sequence.stream,
        md.num_delivered,
        int(md.timestamp.timestamp() * 1e9),
        md.num_pending,
    )


async def metrics(js: JetStreamContext, port: int, stop: asyncio.Event) -> None:
    reg = CollectorRegistry()
    start_http_server(port, addr="127.0.0.1", registry=reg)
    events = Counter("events", "Events", ["bot", "kind"], registry=reg)
    cycles = Histogram("cycle_seconds", "Cycle time", ["bot", "result"], registry=reg)
    calls = Histogram(
        "broker_call_seconds", "Broker calls", ["bot", "operation", "outcome"], registry=reg
    )
    orders = Counter("orders", "Orders", ["bot", "status"], registry=reg)
    fills = Counter("fills", "Fills", ["bot", "side"], registry=reg)
    fees = Counter("fees", "Fees", ["bot"], registry=reg)
    equity = Gauge("equity", "Equity", ["bot"], registry=reg)
    drawdown = Gauge("drawdown_pct", "Drawdown", ["bot"], registry=reg)
    price = Gauge("mark_price", "Mark", ["bot", "symbol"], registry=reg)
    beat = Gauge("heartbeat_ts", "Last heartbeat", ["bot"], registry=reg)

    async def handle(msgs: list[Msg]) -> None:
        good, _ = decoded(msgs)
        for ev, _m in good:
            bot = ev.bot
            events.labels(bot, kind_of(ev)).inc()
            if isinstance(ev, Cycle):
                cycles.labels(bot, "ok" if ev.ok else "error").observe(ev.duration_s)
            elif isinstance(ev, BrokerCall):
                calls.labels(bot, ev.operation, ev.outcome).observe(ev.latency_s)
            elif isinstance(ev, Order):
                orders.labels(bot, ev.status).inc()
            elif isinstance(ev, Fill):
                fills.labels(bot, ev.side).inc()
                fees.labels(bot).inc(ev.fee)
            elif isinstance(ev, Account):
                equity.labels(bot).set(ev.equity)
            elif isinstance(ev, Risk):
                drawdown.labels(bot).set(ev.drawdown_pct)
            elif isinstance(ev, Mark):
                price.labels(bot, ev.symbol).set(ev.price)
            elif isinstance(ev, Heartbeat):
                beat.labels(bot).set(ev.ts)
        for m in msgs:
            await m.ack()

    await consume(js, "metrics", handle, stop)


async def alerts(nc: Client, js: JetStreamContext, stop: asyncio.Event) -> None:
    await ensure_alerts_stream(nc, SUBJECTS)
    engine = Engine(load_rules(DEFAULT_RULES).rules)
    last_tick = time.monotonic()

    async def handle(msgs: list[Msg]) -> None:
        nonlocal last_tick
        good, _ = decoded(msgs)
        now = time.time()
        changes = [c for ev, _m in good for c in engine.observe(ev, now)]
        if time.monotonic() - last_tick >= 1.0:
            changes += engine.tick(now)
            last_tick = time.monotonic()
        for c in changes:
            await js.publish(
                SUBJECTS.alert(c.bot, c.rule), msgspec.json.encode(c), headers={"Nats-Msg-Id": c.id}
            )
        for m in msgs:
            await m.ack()

    await consume(js, "alerts", handle, stop)


async def main_async(service: str, url: str, db: Path, port: int) -> None:
    nc = await nats.connect(url, max_reconnect_attempts=-1)
    await ensure_events_stream(nc, SUBJECTS)
    js = nc.jetstream()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if service == "store":
        await store(js, db, stop)
    elif service == "metrics":
        await metrics(js, port, stop)
    else:
        await alerts(nc, js, stop)
    await nc.close()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("service", choices=("store", "metrics", "alerts"))
    ap.add_argument("url")
    ap.add_argument("--db", type=Path, default=Path("stock.duckdb"))
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    asyncio.run(main_async(a.service, a.url, a.db, a.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
