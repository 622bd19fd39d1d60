"""Stream -> DuckDB ingest: the store service vs a consumer built on nats-py's stock fetch().

usage: uv run python benchmarks/store_ingest.py [--events 200000] [--rounds 3] [--prefill-rows 0]
                                                [--quick] [--dedup-only]

The stream is filled once with simulated fleet events (all 12 kinds). Then, each into
a fresh DuckDB file and from its own durable consumer:
- baseline: ``pull_subscribe`` + ``fetch(1000)``, decode, the same ``StoreWriter.write``
  (one Arrow insert per kind per fetch, one transaction), then ``ack()`` per message;
- store: ``StoreService`` (callback-driven pulls, 5,000-event batches, framed acks);
- writer: ``StoreWriter.write`` alone on the same events, decoded, in 20,000-event batches
  (the DuckDB share of the work: Arrow conversion, dedup, insert, commit).
Rate = events / seconds from start until every event is committed and acked.

Then the dedup alone (``--rounds`` rounds, the variants interleaved, each on a fresh file):
``StoreWriter.write`` with no dedup at all (a plain append: the baseline of that table),
with every id in ``event_ids`` (the VARCHAR primary key, as before ``seq_ranges``), with
a 64-bit hash of every id as a UBIGINT primary key (and a look-up of the ids whose hash
was there already: the collision check), and as shipped (ranges per run for ``<run>-<seq>``
ids), each as events/s and as CPU µs per event (all threads: less bent by other work on
the machine). Last, the cost of a batch whose every event is stored already (a redelivery).
``--prefill-rows N`` first loads N mark rows from 1,000 runs (and their ids into each
variant's index) into each file, to measure dedup against large tables.
``--dedup-only`` runs the dedup comparison alone (no NATS); ``--quick`` is a smoke run
(50,000 events, one round), not a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
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
from _stock_pipeline import delivery_of

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


class PlainAppend(StoreWriter):
    """No dedup at all: what the inserts cost alone (not exactly-once; a baseline)."""

    def _claim_ids(self, by_kind: dict[str, list[tuple[Envelope, Delivery]]]) -> dict[str, str]:
        return {}


class EveryIdInEventIds(StoreWriter):
    """Dedup as before ``seq_ranges``: every id into ``event_ids``' VARCHAR primary key."""

    def _claim_ids(self, by_kind: dict[str, list[tuple[Envelope, Delivery]]]) -> dict[str, str]:
        ids = [e.id for rows in by_kind.values() for e, _ in rows]
        return self._claim_other_ids(ids, [k for k, rows in by_kind.items() for _ in rows])


class HashedIds(StoreWriter):
    """DuckDB's 64-bit ``hash(id)`` as a UBIGINT primary key; the ids whose hash was
    there already are looked up in the kind tables (the collision check: one not found
    is a collision, which a real design would have to store elsewhere)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.con.execute("CREATE TABLE IF NOT EXISTS event_hashes (h UBIGINT PRIMARY KEY)")

    def _claim_ids(self, by_kind: dict[str, list[tuple[Envelope, Delivery]]]) -> dict[str, str]:
        ids = [e.id for rows in by_kind.values() for e, _ in rows]
        self.con.register("_batch_ids", pa.table({"id": ids}))
        try:
            new = self.con.execute(
                "INSERT OR IGNORE INTO event_hashes SELECT hash(id) FROM _batch_ids RETURNING h"
            ).fetchall()
            if len(new) == len(ids):
                return {}
            rows = self.con.execute("SELECT id, hash(id) FROM _batch_ids").fetchall()
        finally:
            self.con.unregister("_batch_ids")
        fresh = {r[0] for r in new}
        return self._stored_kinds({i for i, h in rows if h not in fresh}, by_kind)


# (name, writer, what its index holds after a prefill)
WRITERS: list[tuple[str, type[StoreWriter], str]] = [
    ("plain append, no dedup (baseline)", PlainAppend, "none"),
    ("every id in event_ids (VARCHAR primary key, before)", EveryIdInEventIds, "event_ids"),
    ("hash(id) UBIGINT primary key + collision look-up", HashedIds, "hash"),
    ("<run>-<seq> ranges, seq_ranges (the store now)", StoreWriter, "ranges"),
]
RUNS = 1000  # the prefill's runs: one range each


def prefill(
    db: Path, rows: int, index: str = "ranges", writer: type[StoreWriter] = StoreWriter
) -> None:
    """``rows`` mark rows from 1,000 runs, their ids in ``index``: event_ids, hash, ranges."""
    w = writer(db)
    con = w.con
    batch = 1_000_000
    for start in range(0, rows, batch):
        k = min(batch, rows - start)
        data = pa.table(
            {
                "id": [f"pre{i % RUNS}-{i // RUNS + 1}" for i in range(start, start + k)],
                "bot": ["pre"] * k,
                "run": [f"pre{i % RUNS}" for i in range(start, start + k)],
                "seq": pa.array([i // RUNS + 1 for i in range(start, start + k)], pa.int64()),
                "ts": [1.7e9] * k,
                "v": pa.array([1] * k, pa.int32()),
                "symbol": ["BTC-USD"] * k,
                "price": [1.0] * k,
            }
        )
        con.register("prefill", data)
        con.execute("INSERT INTO marks BY NAME SELECT * FROM prefill")
        if index == "event_ids":
            con.execute("INSERT INTO event_ids SELECT id, 'mark' FROM prefill")
        elif index == "hash":
            con.execute("INSERT INTO event_hashes SELECT hash(id) FROM prefill")
        con.unregister("prefill")
    if index == "ranges":
        con.execute(
            f"INSERT INTO seq_ranges SELECT 'pre' || r, 1, ({rows} - r + {RUNS - 1}) // {RUNS} "
            f"FROM range({min(rows, RUNS)}) t(r)"
        )
    w.close()


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
            bot, kind = SUBJECTS.parse_event(m.subject)
            good.append((decode(m.data, expect_bot=bot, expect_kind=kind), delivery_of(m)))
        await asyncio.to_thread(writer.write, good, bad)
        for m in msgs:
            await m.ack()
        done += len(msgs)
    rate = n / (time.perf_counter() - t0)
    writer.close()
    await nc.close()
    return rate


async def writer_only(
    url: str, db: Path, n: int, batch: int = 20_000, writer: type[StoreWriter] = StoreWriter
) -> float:
    """``StoreWriter.write`` alone on decoded 20,000-event batches: the DuckDB side of
    ingest (Arrow conversion, dedup, insert, commit) without NATS."""
    rate, _, _ = write_batches(db, list(fleet_events(n)), batch, writer)
    return rate


def write_batches(
    db: Path, events: list[Envelope], batch: int, writer: type[StoreWriter]
) -> tuple[float, float, float]:
    """(events/s writing ``events`` in batches, CPU µs per event doing so (every thread
    of the process: less bent than the rate by other work on the machine), seconds to
    write the last batch again)."""
    w = writer(db)
    n = len(events)
    batches = [
        [
            (ev, Delivery("s", b"", "", start + i + 1, 1, time.time_ns(), 0))
            for i, ev in enumerate(events[start : start + batch])
        ]
        for start in range(0, n, batch)
    ]
    t0, cpu0 = time.perf_counter(), time.process_time()
    for rows in batches:
        w.write(rows, [])
    rate = n / (time.perf_counter() - t0)
    cpu_us = (time.process_time() - cpu0) / n * 1e6
    t0 = time.perf_counter()
    again = w.write(batches[-1], [])
    redelivery = time.perf_counter() - t0
    if writer is not PlainAppend:  # the others are exactly once
        assert again.inserted == 0 and again.duplicates == len(batches[-1]), again
    w.close()
    return rate, cpu_us, redelivery


def dedup_rounds(tmp: Path, events: int, prefill_rows: int, rounds: int) -> None:
    """The writers of ``WRITERS`` interleaved, each round on fresh files; medians."""
    fleet = list(fleet_events(events))
    rates: dict[str, list[float]] = {name: [] for name, _, _ in WRITERS}
    ratios: dict[str, list[float]] = {name: [] for name, _, _ in WRITERS}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in WRITERS}
    cpu_ratios: dict[str, list[float]] = {name: [] for name, _, _ in WRITERS}
    again: dict[str, list[float]] = {name: [] for name, _, _ in WRITERS}
    for r in range(rounds):
        order = WRITERS if r % 2 == 0 else WRITERS[::-1]
        got: dict[str, float] = {}
        got_cpu: dict[str, float] = {}
        for name, cls, index in order:
            db = tmp / f"dedup-{r}-{index}.duckdb"
            if prefill_rows:
                prefill(db, prefill_rows, index, cls)
            got[name], got_cpu[name], seconds = write_batches(db, fleet, 20_000, cls)
            again[name].append(seconds)
            print(
                f"round {r + 1}: {name}: {got[name]:,.0f} events/s, "
                f"{got_cpu[name]:.1f} CPU µs/event",
                file=sys.stderr,
            )
        base, base_cpu = got[WRITERS[0][0]], got_cpu[WRITERS[0][0]]
        for name, rate in got.items():
            rates[name].append(rate)
            ratios[name].append(base / rate)
            cpu[name].append(got_cpu[name])
            cpu_ratios[name].append(got_cpu[name] / base_cpu)
    rows = [
        (
            name,
            f"{statistics.median(rates[name]):,.0f}",
            f"{statistics.median(ratios[name]):.2f}x",
            f"{statistics.median(cpu[name]):.1f}",
            f"{statistics.median(cpu_ratios[name]):.2f}x",
            f"{statistics.median(again[name]) * 1000:,.0f}",
        )
        for name, _, _ in WRITERS
    ]
    print(f"\nStoreWriter.write, {events:,} events in 20,000-event batches, median of {rounds}:")
    header = ("dedup", "events/s", "time vs plain", "CPU µs/event", "CPU vs plain")
    print(table(rows, (*header, "ms for a batch again")))


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


async def run(events: int, prefill_rows: int, rounds: int, dedup_only: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if not dedup_only:
            await consumers(Path(tmp), events, prefill_rows)
        if rounds:
            dedup_rounds(Path(tmp), events, prefill_rows, rounds)
    if prefill_rows:
        print(f"\n(each file already held {prefill_rows:,} rows)")


async def consumers(tmp: Path, events: int, prefill_rows: int) -> None:
    with EmbeddedNats() as server:
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
            db = tmp / f"{len(rates)}.duckdb"
            if prefill_rows:
                print(f"prefilling {db.name} with {prefill_rows:,} rows ...", file=sys.stderr)
                prefill(db, prefill_rows)
            rates[name] = await fn(server.url, db, events)
            print(f"{name}: {rates[name]:,.0f} events/s", file=sys.stderr)
    base = rates["baseline: stock fetch(1000) + Arrow insert"]
    rows = [(k, f"{v:,.0f}", f"{v / base:.2f}x") for k, v in rates.items()]
    print(table(rows, ("consumer", "events/s committed", "vs baseline")))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--prefill-rows", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the dedup comparison")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 50,000 events, 1 round")
    ap.add_argument("--dedup-only", action="store_true", help="only the dedup comparison")
    args = ap.parse_args()
    if args.quick:
        args.events, args.rounds = 50_000, 1
    asyncio.run(run(args.events, args.prefill_rows, args.rounds, args.dedup_only))


if __name__ == "__main__":
    main()
