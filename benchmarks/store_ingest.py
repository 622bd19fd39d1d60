"""Stream -> DuckDB ingest: the store service vs a consumer built on nats-py's stock fetch().

usage: uv run python benchmarks/store_ingest.py [--events 200000] [--prefill-rows 0]

The stream is filled once with simulated fleet events (all 12 kinds). Then, each into
a fresh DuckDB file and from its own durable consumer:
- baseline: ``pull_subscribe`` + ``fetch(1000)``, decode, the same ``StoreWriter.write``
  (one Arrow insert per kind per fetch, one transaction), then ``ack()`` per message;
- store: ``StoreService`` (callback-driven pulls, 5,000-event batches, framed acks);
- writer: ``StoreWriter.write`` alone on the same events, decoded, in 20,000-event batches
  (the DuckDB share of the work: Arrow conversion, dedup, insert, commit).
Rate = events / seconds from start until every event is committed and acked.
``--prefill-rows N`` first loads N mark rows (and their ids in ``event_ids``) into each
file, to measure dedup (the id primary keys) against large tables.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path

import nats
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from _common import table

from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.runtime import Delivery
from tradewire.consumers.simulate import BotModel
from tradewire.consumers.store import StoreConfig, StoreService, StoreWriter
from tradewire.publisher import ensure_events_stream
from tradewire.schemas import Envelope, EventError, Subjects, decode, encode, kind_of

SUBJECTS = Subjects()


def fleet_events(n: int) -> Iterator[Envelope]:
    """n valid events of a 20-bot simulated fleet, stamped."""
    models = [BotModel(f"bench-{i}", 1) for i in range(20)]
    seqs = [0] * len(models)
    sent = 0
    while True:
        for i, m in enumerate(models):
            for ev in m.cycle():
                seqs[i] += 1
                ev.bot, ev.run, ev.seq, ev.ts = m.bot, f"run{i}", seqs[i], time.time()
                ev.id = f"run{i}-{seqs[i]}"
                yield ev
                sent += 1
                if sent >= n:
                    return


async def fill_stream(url: str, n: int) -> None:
    """Publish n valid events (a 20-bot simulated fleet) and wait until all are stored."""
    nc = await nats.connect(url)
    await ensure_events_stream(nc, SUBJECTS)
    start = (await nc.jetstream().stream_info(SUBJECTS.events_stream)).state.messages
    for ev in fleet_events(n):
        await nc.publish(SUBJECTS.event(ev.bot, kind_of(ev)), encode(ev))
    js = nc.jetstream()
    target = start + n
    while (await js.stream_info(SUBJECTS.events_stream)).state.messages < target:
        await asyncio.sleep(0.1)
    await nc.close()


def prefill(db: Path, rows: int) -> None:
    writer = StoreWriter(db)
    con = writer.con
    has_ids = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'event_ids'")
    with_ids = has_ids.fetchall() == [(1,)]  # false for a version before event_ids
    batch = 1_000_000
    for start in range(0, rows, batch):
        k = min(batch, rows - start)
        data = pa.table(
            {
                "id": [f"pre-{i}" for i in range(start, start + k)],
                "bot": ["pre"] * k,
                "run": ["pre"] * k,
                "seq": pa.array(range(start + 1, start + k + 1), pa.int64()),
                "ts": [1.7e9] * k,
                "v": pa.array([1] * k, pa.int32()),
                "symbol": ["BTC-USD"] * k,
                "price": [1.0] * k,
            }
        )
        con.register("prefill", data)
        con.execute("INSERT INTO marks BY NAME SELECT * FROM prefill")
        if with_ids:
            con.execute("INSERT INTO event_ids SELECT id, 'mark' FROM prefill")
        con.unregister("prefill")
    writer.close()


async def baseline(url: str, db: Path, n: int) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    writer = StoreWriter(db)
    sub = await js.pull_subscribe(SUBJECTS.events_wildcard, durable="bench-baseline")
    done = 0
    t0 = time.perf_counter()
    while done < n:
        try:
            msgs = await sub.fetch(1000, timeout=2)
        except nats.errors.TimeoutError:
            continue
        good: list[tuple[Envelope, Delivery]] = []
        bad: list[tuple[Delivery, EventError | str]] = []
        for m in msgs:
            md = m.metadata
            d = Delivery(
                m.subject,
                m.data,
                m.reply or "",
                md.sequence.stream,
                md.num_delivered,
                int(md.timestamp.timestamp() * 1e9),
                md.num_pending,
            )
            bot, kind = SUBJECTS.parse_event(m.subject)
            good.append((decode(m.data, expect_bot=bot, expect_kind=kind), d))
        await asyncio.to_thread(writer.write, good, bad)
        for m in msgs:
            await m.ack()
        done += len(msgs)
    rate = n / (time.perf_counter() - t0)
    writer.close()
    await nc.close()
    return rate


async def writer_only(url: str, db: Path, n: int, batch: int = 20_000) -> float:
    """``StoreWriter.write`` alone on decoded 20,000-event batches: the DuckDB side of
    ingest (Arrow conversion, dedup, insert, commit) without NATS."""
    events = list(fleet_events(n))
    writer = StoreWriter(db)
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        rows = [
            (ev, Delivery("s", b"", "", start + i + 1, 1, time.time_ns(), 0))
            for i, ev in enumerate(events[start : start + batch])
        ]
        writer.write(rows, [])
    rate = n / (time.perf_counter() - t0)
    writer.close()
    return rate


async def store(url: str, db: Path, n: int, max_batch: int = 5000) -> float:
    service = StoreService(
        StoreConfig(
            nats_url=url,
            db=str(db),
            http_port=0,
            durable=f"bench-store-{max_batch}",
            max_batch=max_batch,
        )
    )
    ready = asyncio.Event()
    t0 = time.perf_counter()
    task = asyncio.create_task(service.run(install_signals=False, ready=ready))
    while service.stored + service.duplicates < n:
        await asyncio.sleep(0.02)
    rate = n / (time.perf_counter() - t0)
    service.stop()
    await task
    return rate


async def run(events: int, prefill_rows: int) -> None:
    with EmbeddedNats() as server, tempfile.TemporaryDirectory() as tmp:
        print(f"filling the stream with {events:,} events ...", file=sys.stderr)
        await fill_stream(server.url, events)
        rates: dict[str, float] = {}
        variants: list[tuple[str, Callable[[str, Path, int], Awaitable[float]]]] = [
            ("baseline: stock fetch(1000) + Arrow insert", baseline),
            ("tradewire store (max_batch 5000)", store),
            ("tradewire store (max_batch 20000)", partial(store, max_batch=20_000)),
            ("StoreWriter.write alone, 20000-event batches (no NATS)", writer_only),
        ]
        for name, fn in variants:
            db = Path(tmp) / f"{len(rates)}.duckdb"
            if prefill_rows:
                print(f"prefilling {db.name} with {prefill_rows:,} rows ...", file=sys.stderr)
                prefill(db, prefill_rows)
            rates[name] = await fn(server.url, db, events)
            print(f"{name}: {rates[name]:,.0f} events/s", file=sys.stderr)
    base = rates["baseline: stock fetch(1000) + Arrow insert"]
    rows = [(k, f"{v:,.0f}", f"{v / base:.2f}x") for k, v in rates.items()]
    print(table(rows, ("consumer", "events/s committed", "vs baseline")))
    if prefill_rows:
        print(f"\n(each table already held {prefill_rows:,} rows)")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--prefill-rows", type=int, default=0)
    args = ap.parse_args()
    asyncio.run(run(args.events, args.prefill_rows))


if __name__ == "__main__":
    main()
