"""Scrape cost at fleet scale: tradewire's renderer vs prometheus_client's generate_latest().

usage: uv run python benchmarks/metrics_scrape.py [--bots 1000] [--rounds 5]

Both hold the same series: per bot, a simulated bot's events (all kinds, 4 symbols)
aggregated by the metrics service's Aggregator; the baseline registry gets one
prometheus_client Gauge/Counter child per tradewire sample (histograms as Histograms).
Also times aggregation: events/s through ``Aggregator.apply`` vs the same updates on
cached prometheus_client children; and how long one scrape holds the event loop (the
longest gap seen by a task that wakes every millisecond) when it renders on the loop,
and as the service does it: a copy on the loop, formatting and gzip in a worker thread.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

sys.path.insert(0, str(Path(__file__).parent))
from _common import table

from tradewire.consumers.metrics import Aggregator
from tradewire.consumers.runtime import exposition
from tradewire.consumers.simulate import BotModel
from tradewire.schemas import Envelope, kind_of

NOW = time.time()


def events(bots: int, cycles: int) -> list[Envelope]:
    out: list[Envelope] = []
    for b in range(bots):
        m = BotModel(f"bot-{b:04d}", 1)
        seq = 0
        for _ in range(cycles):
            for ev in m.cycle():
                seq += 1
                ev.bot, ev.run, ev.seq, ev.ts, ev.id = m.bot, f"r{b}", seq, NOW, f"r{b}-{seq}"
                out.append(ev)
    return out


def baseline_registry(agg: Aggregator) -> CollectorRegistry:
    reg = CollectorRegistry()
    for fam in agg.registry.families.values():
        name = f"base_{fam.name}"
        if fam.kind == "histogram":
            h = Histogram(name, fam.help, list(fam.labels), buckets=fam.buckets, registry=reg)
            for key, hist in fam.hists.items():
                child = h.labels(*key) if key else h
                child.observe(hist.sum / max(hist.count, 1))
            continue
        base = name.removesuffix("_total") + ("_n" if fam.kind == "counter" else "")
        if fam.kind == "counter":
            counter = Counter(base, fam.help, list(fam.labels), registry=reg)
            for key, value in fam.samples(NOW):
                (counter.labels(*key) if key else counter).inc(value)
        else:
            gauge = Gauge(base, fam.help, list(fam.labels), registry=reg)
            for key, value in fam.samples(NOW):
                (gauge.labels(*key) if key else gauge).set(value)
    return reg


async def longest_stall(scrape: Callable[[], Awaitable[bytes]]) -> float:
    """The longest the loop went without running a 1 ms ticker while ``scrape`` ran."""
    longest = 0.0
    done = False

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.01)
    await scrape()
    done = True
    await ticker
    return longest


def loop_stalls(agg: Aggregator, rounds: int) -> tuple[float, float, float]:
    """Median (stall on the loop, stall via the thread, thread scrape's total ms)."""

    async def on_loop() -> bytes:  # before: render and encode on the loop, no gzip
        return agg.registry.render(NOW).encode()

    async def in_thread() -> bytes:  # the service now
        frozen = agg.registry.snapshot(NOW)
        body = await asyncio.to_thread(lambda: exposition(frozen).encode())
        return await asyncio.to_thread(gzip.compress, body, 6)

    async def run() -> tuple[float, float, float]:
        before = [await longest_stall(on_loop) for _ in range(rounds)]
        after = [await longest_stall(in_thread) for _ in range(rounds)]
        totals = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            await in_thread()
            totals.append(time.perf_counter() - t0)
        return statistics.median(before), statistics.median(after), statistics.median(totals)

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--bots", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    evs = events(args.bots, 30)
    agg = Aggregator()
    t0 = time.perf_counter()
    for ev in evs:
        agg.apply(ev, NOW)
    apply_rate = len(evs) / (time.perf_counter() - t0)

    reg = CollectorRegistry()
    c_events = Counter("e", "e", ["bot", "kind"], registry=reg)
    h_lat = Histogram("l", "l", ["bot"], registry=reg)
    t0 = time.perf_counter()
    for ev in evs:  # the least a per-event prometheus_client consumer does
        c_events.labels(ev.bot, kind_of(ev)).inc()
        h_lat.labels(ev.bot).observe(0.001)
    base_rate = len(evs) / (time.perf_counter() - t0)

    samples = agg.registry.render(NOW).count("\n") - 2 * len(agg.registry.families)
    ours = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        agg.registry.render(NOW)
        ours.append(time.perf_counter() - t0)
    base = baseline_registry(agg)
    theirs = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        generate_latest(base)
        theirs.append(time.perf_counter() - t0)
    snaps = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        agg.registry.snapshot(NOW)
        snaps.append(time.perf_counter() - t0)
    o, t = statistics.median(ours), statistics.median(theirs)
    print(
        table(
            [
                ("prometheus_client generate_latest()", f"{t * 1000:,.0f}", "1.0x"),
                ("tradewire render", f"{o * 1000:,.0f}", f"{o / t:.2f}x"),
            ],
            ("full scrape", "median ms", "vs baseline"),
        )
    )
    print(f"\n{args.bots} bots, {samples:,} sample lines, {len(evs):,} events aggregated\n")
    before, after, total = loop_stalls(agg, args.rounds)
    print(
        table(
            [
                ("render + encode on the loop, no gzip (before)", f"{before * 1000:,.0f}", "-"),
                (
                    "copy on the loop; format + gzip in a thread (now)",
                    f"{after * 1000:,.0f}",
                    f"{total * 1000:,.0f}",
                ),
                (
                    "of which the copy on the loop (snapshot)",
                    f"{statistics.median(snaps) * 1000:,.1f}",
                    "-",
                ),
            ],
            ("one scrape", "longest loop stall ms", "scrape ms"),
        )
    )
    print()
    print(
        table(
            [
                ("prometheus_client: counter inc + histogram observe", f"{base_rate:,.0f}", "1.0x"),
                (
                    "tradewire Aggregator.apply (every metric of the kind)",
                    f"{apply_rate:,.0f}",
                    f"{apply_rate / base_rate:.2f}x",
                ),
            ],
            ("aggregation, one thread", "events/s", "vs baseline"),
        )
    )


if __name__ == "__main__":
    main()
