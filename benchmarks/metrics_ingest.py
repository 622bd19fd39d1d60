"""Events/s aggregated by the metrics service vs prometheus_client behind stock fetch(),
and event-to-aggregate latency at a steady 10k events/s.

usage: uv run python benchmarks/metrics_ingest.py [--events 100000] [--rounds 3]

Throughput: each consumer starts at the end of the stream, then simulated fleet events are
published (core publish, as fast as the client goes) while it consumes; rate = events /
seconds until all are aggregated; each round runs the baseline, the service with
tradewire's names and the service with every profile on, in turn, and the table shows
medians. Baseline: ``pull_subscribe().fetch(1000)``, decode, labelled ``Counter.inc()``
per event and ``Histogram.observe()`` for cycles and broker calls on a
fresh prometheus_client registry, ``ack()`` per message. Service: ``MetricsService``
(callback-driven pulls, every metric of each kind). Latency: a publisher emits 10k
events/s for 10 s while the service runs and ``/metrics`` is rendered every 5 s; the
service's ``pipeline_event_latency_seconds`` histogram (emit timestamp to aggregation)
gives the p99 bucket.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy
from prometheus_client import CollectorRegistry, Counter, Histogram

sys.path.insert(0, str(Path(__file__).parent))
from _common import table
from store_ingest import SUBJECTS, fill_stream

from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.publisher import Publisher, ensure_events_stream
from tradewire.schemas import BrokerCall, Cycle, Mark, decode, kind_of


async def baseline(url: str, n: int, name: str = "bench-prom") -> float:
    nc = await nats.connect(url)
    await ensure_events_stream(nc, SUBJECTS)
    sub = await nc.jetstream().pull_subscribe(
        SUBJECTS.events_wildcard,
        durable=name,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
    )
    t0 = time.perf_counter()
    filler = asyncio.create_task(fill_stream(url, n))
    reg = CollectorRegistry()
    events = Counter("events", "e", ["bot", "kind"], registry=reg)
    cycles = Histogram("cycle_seconds", "c", ["bot", "result"], registry=reg)
    calls = Histogram("call_seconds", "b", ["bot", "operation", "outcome"], registry=reg)
    done = 0
    while done < n:
        try:
            msgs = await sub.fetch(1000, timeout=2)
        except nats.errors.TimeoutError:
            continue
        for m in msgs:
            bot, kind = SUBJECTS.parse_event(m.subject)
            ev = decode(m.data, expect_bot=bot, expect_kind=kind)
            events.labels(ev.bot, kind_of(ev)).inc()
            if isinstance(ev, Cycle):
                cycles.labels(ev.bot, "ok" if ev.ok else "error").observe(ev.duration_s)
            elif isinstance(ev, BrokerCall):
                calls.labels(ev.bot, ev.operation, ev.outcome).observe(ev.latency_s)
            await m.ack()
        done += len(msgs)
    rate = n / (time.perf_counter() - t0)
    await filler
    await nc.close()
    return rate


def aggregated(svc: MetricsService) -> float:
    return sum(svc.agg.families["pipeline_events_total"].values.values())


async def service_rate(url: str, n: int, profiles: str, name: str) -> float:
    config = MetricsConfig(nats_url=url, http_port=0, durable=name, profiles=profiles)
    svc = MetricsService(config)
    task = await svc.start()  # a new durable starts at the end of the stream
    t0 = time.perf_counter()
    await fill_stream(url, n)
    while aggregated(svc) < n:
        await asyncio.sleep(0.01)
    rate = n / (time.perf_counter() - t0)
    svc.stop()
    await task
    return rate


async def latency(url: str, tmp: Path, rate: int = 10_000, seconds: float = 10.0) -> str:
    config = MetricsConfig(nats_url=url, http_port=0, durable="bench-lat", profiles="all")
    svc = MetricsService(config)
    task = await svc.start()
    hists = svc.agg.families["pipeline_event_latency_seconds"].hists
    before = hists.get(())
    base_counts = list(before.counts) if before else None
    async with Publisher("lat-bot", url=url, outbox_dir=tmp / "lat", heartbeat_interval_s=0) as tel:
        t0 = time.monotonic()
        sent = 0
        next_scrape = t0 + 5
        while time.monotonic() - t0 < seconds:
            target = int((time.monotonic() - t0) * rate)
            while sent < target:
                tel.emit(Mark(symbol="BTC-USD", price=1.0 + sent))
                sent += 1
            if time.monotonic() >= next_scrape:
                next_scrape += 5
                svc.exposition.render(time.time())  # what a Prometheus scrape costs us
            await asyncio.sleep(0.005)
        await tel.flush(30)
    await asyncio.sleep(0.5)
    h = hists[()]
    counts = [c - (base_counts[i] if base_counts else 0) for i, c in enumerate(h.counts)]
    total = sum(counts)
    cum = 0
    p99 = "+Inf"
    for le, c in zip((*h.buckets, float("inf")), counts, strict=True):
        cum += c
        if cum >= 0.99 * total:
            p99 = f"<= {le * 1000:g} ms"
            break
    svc.stop()
    await task
    return f"{sent:,} events at {rate:,}/s: p99 event-to-aggregate latency {p99}"


async def run(events: int, rounds: int) -> None:
    rates: dict[str, list[float]] = {"base": [], "tradewire": [], "all": []}
    with EmbeddedNats() as server, tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):  # interleaved, so a busy moment hits every variant
            rates["base"].append(await baseline(server.url, events, f"bench-prom-{r}"))
            for profiles in ("tradewire", "all"):
                rate = await service_rate(server.url, events, profiles, f"bench-{profiles}-{r}")
                rates[profiles].append(rate)
        lat = await latency(server.url, Path(tmp))
    base, ours, every = (statistics.median(rates[k]) for k in ("base", "tradewire", "all"))

    def spread(k: str) -> str:
        return f"{min(rates[k]):,.0f}-{max(rates[k]):,.0f}"

    rows = [
        ("baseline: stock fetch(1000) + prometheus_client", base, "base"),
        ("tradewire metrics service, tradewire names", ours, "tradewire"),
        ("tradewire metrics service, all profiles", every, "all"),
    ]
    print(
        table(
            [(name, f"{rate:,.0f}", spread(k), f"{rate / base:.2f}x") for name, rate, k in rows],
            ("consumer", f"median events/s ({rounds} rounds)", "range", "vs baseline"),
        )
    )
    print("\n" + lat + " (all profiles on, rendered every 5 s)")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    asyncio.run(run(args.events, args.rounds))


if __name__ == "__main__":
    main()
