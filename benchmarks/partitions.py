"""Horizontal consumers: events/s of 1, 2 and 3 instances of each service, one process each.

usage: uv run python benchmarks/partitions.py [--events 60000] [--bots 1000]
                                              [--instances 1,2,3] [--services store,metrics,alerts]

The events stream is split into 12 partitions (the store's ``stream_partitions``) and
filled once with a simulated fleet's events (all kinds, ``--bots`` bots). Then, for each
service and each instance count N, N processes each run the real service as partition
i of N (``--partition i --partitions N``) on a fresh durable from the stream's start,
and stop once they have handled their bots' events. Rate = events / seconds from the
first instance consuming to the last one done; per instance: its events / its seconds;
one alone: instance 0 of N run by itself afterwards (its share, the CPUs to itself: what
an instance does on a machine of its own). RSS: the largest process's peak (VmHWM).

The alerts instances run the default rules; their start-up replay of recent history
into windows (which here would be the whole prefilled stream) is skipped, so what is
timed is the stream's events going through the rules. Metrics and alerts start at the
stream's end in production (deliver_new); here they start at its beginning, to drain
the same prefilled events as the store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nats

sys.path.insert(0, str(Path(__file__).parent))
from _common import table

from tradewire.consumers.alerts import AlertsConfig, AlertsService
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.consumers.runtime import ConsumerService, slot_of
from tradewire.consumers.simulate import BotModel
from tradewire.consumers.store import StoreConfig, StoreService
from tradewire.publisher import StreamLimits, apply_stream_limits
from tradewire.schemas import Subjects, encode, kind_of

SUBJECTS = Subjects()
SLOTS = 12


def fleet(bots: int, n: int) -> tuple[list[tuple[str, bytes]], dict[str, int]]:
    """n events of a simulated fleet as (subject, payload), and how many each bot has."""
    models = [BotModel(f"bench-{i:04d}", 1) for i in range(bots)]
    seqs = [0] * bots
    out: list[tuple[str, bytes]] = []
    per_bot: dict[str, int] = {}
    while len(out) < n:
        for i, m in enumerate(models):
            for ev in m.cycle():
                seqs[i] += 1
                ev.bot, ev.run, ev.seq, ev.ts = m.bot, f"run{i}", seqs[i], time.time()
                ev.id = f"run{i}-{seqs[i]}"
                out.append((SUBJECTS.event(m.bot, kind_of(ev)), encode(ev)))
                per_bot[m.bot] = per_bot.get(m.bot, 0) + 1
                if len(out) >= n:
                    return out, per_bot
    return out, per_bot


async def fill(url: str, events: list[tuple[str, bytes]]) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await apply_stream_limits(nc, SUBJECTS, StreamLimits(partitions=SLOTS))
    for subject, data in events:
        await nc.publish(subject, data)
    while (await js.stream_info(SUBJECTS.events_stream)).state.messages < len(events):
        await asyncio.sleep(0.1)
    await nc.close()


# -- one instance (a child process) ----------------------------------------------------------
def _service(args: argparse.Namespace) -> ConsumerService:
    common: dict[str, Any] = {
        "nats_url": args.url,
        "http_port": 0,
        "durable": f"bench-{args.run}",
        "partition": args.partition,
        "partitions": args.partitions,
    }
    svc: ConsumerService
    if args.worker == "store":
        svc = StoreService(StoreConfig(**common, db=args.db))
    elif args.worker == "metrics":
        svc = MetricsService(MetricsConfig(**common))
    else:
        alerts = AlertsService(AlertsConfig(**common, state_bucket=f"bench_{args.run}"))

        async def no_replay() -> int:
            return 0

        alerts._replay_windows = no_replay  # type: ignore[method-assign]
        svc = alerts
    svc.deliver_new = False  # drain the prefilled stream from its start
    return svc


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def worker(args: argparse.Namespace) -> None:
    svc = _service(args)
    task = await svc.start(60)
    started = time.time()
    assert svc.consumer is not None
    while svc.consumer.handled < args.expect:
        await asyncio.sleep(0.01)
    done = time.time()
    svc.stop()
    await task
    print(json.dumps({"started": started, "done": done, "handled": svc.consumer.handled,
                      "rss_mb": _peak_rss_mb()}))  # fmt: skip


# -- the parent ------------------------------------------------------------------------------
def run_instances(
    service: str, n: int, url: str, per_bot: dict[str, int], tmp: Path, *, alone: bool = False
) -> list[dict[str, Any]]:
    """Instances 0..n-1 of ``service`` at once, each on a new durable; or instance 0 of n
    ``alone``: what one instance does with the CPUs to itself."""
    run = f"{service}-{n}-{time.monotonic_ns()}"
    procs = []
    for i in range(1 if alone else n):
        expect = sum(c for b, c in per_bot.items() if slot_of(b, SLOTS) % n == i)
        argv = [sys.executable, __file__, "--worker", service, "--url", url, "--run", run]
        argv += ["--partition", str(i), "--partitions", str(n), "--expect", str(expect)]
        argv += ["--db", str(tmp / f"{run}-{i}.duckdb")]
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, text=True))
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"{service} instance failed ({p.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


async def main(args: argparse.Namespace) -> None:
    counts = [int(x) for x in args.instances.split(",")]
    services = args.services.split(",")
    events, per_bot = fleet(args.bots, args.events)
    rows = []
    with EmbeddedNats() as server, tempfile.TemporaryDirectory() as tmp:
        print(f"filling the stream with {len(events):,} events ...", file=sys.stderr)
        await fill(server.url, events)
        for service in services:
            base = 0.0
            for n in counts:
                res = await asyncio.to_thread(
                    run_instances, service, n, server.url, per_bot, Path(tmp)
                )
                span = max(r["done"] for r in res) - min(r["started"] for r in res)
                rate = len(events) / span
                base = base or rate
                each = [r["handled"] / (r["done"] - r["started"]) for r in res]
                rss = max(r["rss_mb"] for r in res)
                if n > 1:
                    (one,) = await asyncio.to_thread(
                        run_instances, service, n, server.url, per_bot, Path(tmp), alone=True
                    )
                    solo = one["handled"] / (one["done"] - one["started"])
                else:
                    solo = each[0]
                print(f"{service} x{n}: {rate:,.0f} events/s", file=sys.stderr)
                rows.append(
                    (
                        service,
                        str(n),
                        f"{rate:,.0f}",
                        f"{rate / base:.2f}x",
                        " / ".join(f"{e:,.0f}" for e in each),
                        f"{solo:,.0f}",
                        f"{args.bots // n:,}",
                        f"{rss:,.0f}",
                    )
                )
    header = (
        "service",
        "instances",
        "events/s",
        "vs 1",
        "per instance",
        "one alone",
        "bots each",
        "RSS MB",
    )
    print(table(rows, header))
    print(
        f"\n{len(events):,} events of {args.bots:,} bots, stream partitions {SLOTS}, "
        f"{os.cpu_count()} CPUs"
    )


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=60_000)
    p.add_argument("--bots", type=int, default=1000)
    p.add_argument("--instances", default="1,2,3")
    p.add_argument("--services", default="store,metrics,alerts")
    # One instance, run by the parent in its own process:
    p.add_argument("--worker", choices=["store", "metrics", "alerts"], help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--run", help=argparse.SUPPRESS)
    p.add_argument("--partition", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--partitions", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    return p.parse_args()


if __name__ == "__main__":
    ns = parse()
    asyncio.run(worker(ns) if ns.worker else main(ns))
