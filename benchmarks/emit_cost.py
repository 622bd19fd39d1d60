"""Cost of recording one event on the bot's own thread: tradewire emit vs what bots do today.

usage: uv run python benchmarks/emit_cost.py [--batches 200] [--batch 1000]

Each approach records the same order event (symbol, side, status, qty, price, ...):
- tradewire: ``SyncPublisher.order(...)`` (builds the Struct, stamps, enqueues) while its
  thread delivers to a real nats-server at the same time;
- SQLite: ``INSERT`` of a JSON payload + ``COMMIT`` per event into a file database (the
  GPT-Trader events.db way);
- JSON lines: ``json.dumps`` + ``write`` + ``flush`` on an open file;
- prometheus_client: ``Counter.labels(bot, symbol, result).inc()`` (no event kept at all).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
from pathlib import Path

import nats
from prometheus_client import CollectorRegistry, Counter

sys.path.insert(0, str(Path(__file__).parent))
from _common import median_ns_per_call, table

from tradewire.consumers.embedded import EmbeddedNats
from tradewire.publisher import SyncPublisher, ensure_events_stream
from tradewire.schemas import Subjects


def payload(i: int) -> dict[str, object]:
    return {
        "bot_id": "bot-1",
        "symbol": "BTC-USD",
        "side": "buy",
        "status": "filled",
        "quantity": 0.01,
        "price": 64000.0 + i,
        "order_id": f"o-{i}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tw-bench-"))
    with EmbeddedNats() as server:

        async def setup() -> None:
            nc = await nats.connect(server.url)
            await ensure_events_stream(nc, Subjects())
            await nc.close()

        asyncio.run(setup())

        tel = SyncPublisher(
            "bot-1", url=server.url, outbox_dir=tmp / "outbox", heartbeat_interval_s=0
        )
        counter = [0]

        def tradewire_emit(n: int) -> None:
            order = tel.order
            base = counter[0]
            for i in range(base, base + n):
                order(
                    symbol="BTC-USD",
                    side="buy",
                    status="filled",
                    qty=0.01,
                    price=64000.0 + i,
                    order_id="o",
                )
            counter[0] = base + n

        db = sqlite3.connect(tmp / "events.db")
        db.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "timestamp TEXT DEFAULT (datetime('now')), event_type TEXT, "
            "payload TEXT, bot_id TEXT)"
        )

        def sqlite_commit(n: int) -> None:
            for i in range(n):
                db.execute(
                    "INSERT INTO events (event_type, payload, bot_id) VALUES (?, ?, ?)",
                    ("trade", json.dumps(payload(i)), "bot-1"),
                )
                db.commit()

        jsonl = open(tmp / "events.jsonl", "a")  # noqa: SIM115

        def json_line(n: int) -> None:
            for i in range(n):
                jsonl.write(json.dumps({"type": "trade", "data": payload(i)}) + "\n")
                jsonl.flush()

        registry = CollectorRegistry()
        orders = Counter("orders_total", "orders", ["bot", "symbol", "result"], registry=registry)

        def prom_inc(n: int) -> None:
            for _ in range(n):
                orders.labels("bot-1", "BTC-USD", "filled").inc()

        approaches = [
            ("tradewire SyncPublisher.order()", tradewire_emit),
            ("SQLite insert + commit (events.db)", sqlite_commit),
            ("JSON line append + flush", json_line),
            ("prometheus_client labels().inc()", prom_inc),
        ]
        # SQLite with a commit per event is slow: fewer batches keep the run short.
        results = {}
        for name, fn in approaches:
            batches = args.batches if "SQLite" not in name else max(10, args.batches // 20)
            fn(args.batch)  # warm-up
            results[name] = median_ns_per_call(fn, batch=args.batch, batches=batches)
        assert tel.flush(120), tel.stats()
        stats = tel.close()
        jsonl.close()
        db.close()
    base = results["tradewire SyncPublisher.order()"]
    rows = [(name, f"{ns:,.0f}", f"{ns / base:.1f}x") for name, ns in results.items()]
    print(table(rows, ("approach", "median ns/event", "vs tradewire")))
    print(
        f"\ntradewire delivered all {stats.acked:,} emitted events "
        f"(emitted {stats.emitted:,}, dropped {stats.dropped})."
    )


if __name__ == "__main__":
    main()
