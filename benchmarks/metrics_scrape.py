"""Scrape cost at fleet scale: tradewire's renderer vs prometheus_client's generate_latest(),
and what each naming profile adds.

usage: uv run python benchmarks/metrics_scrape.py [--bots 1000] [--rounds 5]

Both hold the same series: per bot, a simulated bot's events (all kinds, 4 symbols)
aggregated by the metrics service's Aggregator; the baseline registry gets one
prometheus_client Gauge/Counter child per sample of tradewire's own names (histograms
as Histograms). Then, in the same run, the render with each seed profile added alone
and with all profiles on. Also times aggregation: events/s through ``Aggregator.apply``
vs the same updates on cached prometheus_client children; and how long one scrape holds
the event loop (the longest gap seen by a task that wakes every millisecond) when it
renders on the loop, and as the service does it: a copy on the loop, formatting and gzip
in a worker thread.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

sys.path.insert(0, str(Path(__file__).parent))
from _common import table

from tradewire.consumers.metrics import PROFILE_NAMES, Aggregator, Exposition, resolve_profiles
from tradewire.consumers.simulate import BotModel
from tradewire.schemas import Envelope, kind_of

NOW = time.time()


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


def loop_stalls(x: Exposition, rounds: int) -> tuple[float, float, float, float]:
    """Median (stall rendering on the loop, stall as the service does it, the service's
    whole scrape, the copy on the loop), in seconds."""

    async def on_loop() -> bytes:
        return x.render(NOW).encode()

    async def in_thread() -> bytes:  # as MetricsService._metrics
        frozen = x.freeze(NOW)
        body = await asyncio.to_thread(lambda: x.write(frozen).encode())
        return await asyncio.to_thread(gzip.compress, body, 6)

    async def run() -> tuple[float, float, float, float]:
        before = [await longest_stall(on_loop) for _ in range(rounds)]
        after = [await longest_stall(in_thread) for _ in range(rounds)]
        totals, copies = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            await in_thread()
            totals.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            x.freeze(NOW)
            copies.append(time.perf_counter() - t0)
        med = statistics.median
        return med(before), med(after), med(totals), med(copies)

    return asyncio.run(run())


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
    shown = {e.family for e in resolve_profiles(["tradewire"])[0].exposures}
    for fam in (f for f in agg.families.values() if f.name in shown):
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


def median_ms(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median (wall, CPU) milliseconds: on a shared machine the CPU time is the steadier."""
    wall, cpu = [], []
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if not line.startswith("#"))


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

    ours = Exposition(agg, resolve_profiles(["tradewire"]))
    ours.render(NOW)  # the first scrape builds the label caches; later ones reuse them
    o, o_cpu = median_ms(partial(ours.render, NOW), args.rounds)
    base = baseline_registry(agg)
    t, t_cpu = median_ms(partial(generate_latest, base), args.rounds)
    samples = lines(ours.render(NOW))
    print(
        table(
            [
                ("prometheus_client generate_latest()", f"{t:,.0f}", f"{t_cpu:,.0f}", "1.0x"),
                (
                    "tradewire render, tradewire names",
                    f"{o:,.0f}",
                    f"{o_cpu:,.0f}",
                    f"{o_cpu / t_cpu:.2f}x",
                ),
            ],
            ("full scrape", "median ms", "CPU ms", "vs baseline (CPU)"),
        )
    )
    print(f"\n{args.bots} bots, {samples:,} sample lines, {len(evs):,} events aggregated\n")
    rows = [("tradewire", f"{samples:,}", f"{o:,.0f}", f"{o_cpu:,.0f}", "")]
    for name in [*PROFILE_NAMES[1:], "all"]:
        sets = ["all"] if name == "all" else ["tradewire", name]
        x = Exposition(agg, resolve_profiles(sets))
        x.render(NOW)
        ms, cpu = median_ms(partial(x.render, NOW), args.rounds)
        label = "all profiles" if name == "all" else f"tradewire + {name}"
        n = lines(x.render(NOW))
        adds = f"+{cpu - o_cpu:,.0f} ms CPU, +{n - samples:,} lines"
        rows.append((label, f"{n:,}", f"{ms:,.0f}", f"{cpu:,.0f}", adds))
    print(table(rows, ("profiles on", "sample lines", "median ms", "CPU ms", "adds")))
    print()
    before, after, total, copy = loop_stalls(ours, args.rounds)
    ms = 1000
    print(
        table(
            [
                ("render + encode on the loop, no gzip", f"{before * ms:,.0f}", "-"),
                (
                    "copy on the loop; format + gzip in a thread",
                    f"{after * ms:,.0f}",
                    f"{total * ms:,.0f}",
                ),
                ("of which the copy on the loop", f"{copy * ms:,.1f}", "-"),
            ],
            ("one scrape, tradewire names", "longest loop stall ms", "scrape ms"),
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
