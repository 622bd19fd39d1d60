"""CPU per event of the alerts service with the shipped rules and a 1,000-bot fleet.

usage: uv run python benchmarks/alerts_ingest.py [--events 60000] [--warmup 30000]
                                                 [--rate 2000] [--rounds 3] [--bots 1000]
                                                 [--against REV]

``AlertsService`` with its default settings, on an embedded nats-server (its alerts
stream and its key-value bucket real), is fed the events of a simulated fleet
(``_fleet_load.Fleet``: each bot its own run and seq, every kind) in batches of 1,000
``Delivery`` values, as its pull loop hands them over; no pulling or acking (the runtime's
share, the same for every consumer). The fleet's time is virtual: the events are stamped
``--rate`` per second ending now, and every ``--rate`` events the service's clock turns
once (``tick``: every series re-evaluated, changes published, notifications) and every
five seconds' worth each bot's state is saved, as the running service does on its 1 s
tick and 5 s bot saves. So the figure is what one event costs at that rate, ticks and
saves included: CPU time of this process (``time.process_time``) per event, less bent by
the box's other work than a wall rate. The first ``--warmup`` events are not counted: by
then every bot's series and alerts exist, as in a service that has run a while.

``--against REV`` also runs, in the same process and interleaved round by round, the
rule engine and the state store of git revision ``REV`` (its ``alerts/_engine.py`` and
``alerts/_state.py``, loaded from ``git show``) inside the same service: the before and
after of a change to them, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import nats

sys.path.insert(0, str(Path(__file__).parent))
from _common import table
from _fleet_load import Fleet

from tradewire.consumers.alerts import AlertsConfig, AlertsService, Engine, _service
from tradewire.consumers.alerts._silences import open_bucket
from tradewire.consumers.alerts._state import StateStore
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.runtime import Delivery
from tradewire.publisher import ensure_alerts_stream, ensure_events_stream
from tradewire.schemas import decode, encode

BATCH = 1000
PACKAGE = "tradewire.consumers.alerts"
PACKAGE_DIR = "consumers/src/tradewire/consumers/alerts"


def fleet_batches(bots: int, events: int, rate: float) -> list[list[Delivery]]:
    """The events as the service gets them, stamped ``rate`` per second ending now."""
    fleet = Fleet(bots, seed=1)
    start = time.time() - events / rate
    batches = []
    for b in range(0, events, BATCH):
        out = []
        for i, (subject, _id, data) in enumerate(fleet.take(min(BATCH, events - b))):
            ts = start + (b + i) / rate
            ev = decode(data)
            ev.ts = ts
            ns = int(ts * 1e9)
            out.append(Delivery(subject, encode(ev), "", b + i + 1, 1, ns, 0))
        batches.append(out)
    return batches


def module_of(rev: str, name: str) -> types.ModuleType:
    """Module ``name`` of the alerts package as of revision ``rev``, beside the current."""
    path = f"{PACKAGE_DIR}/{name}.py"
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=root, check=True, capture_output=True
    ).stdout.decode()
    module = types.ModuleType(f"{PACKAGE}.{name}_{rev[:12]}")
    module.__package__ = PACKAGE  # its relative imports are of the current package
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)
    return module


async def one_run(
    url: str,
    batches: list[list[Delivery]],
    *,
    rate: float,
    old: tuple[type, type] | None,
    bucket: str,
    warmup: int,
) -> dict[str, float]:
    """CPU seconds per event of the handler, the ticks and the bot saves."""
    config = AlertsConfig(nats_url=url, http_port=0, state_bucket=bucket)
    svc = AlertsService(config)
    engine, store = old or (Engine, StateStore)
    if old is not None:
        svc.engine = engine(list(svc.engine.rules.values()), live_window_s=config.live_window_s)
    nc = await nats.connect(url)
    await ensure_events_stream(nc, svc.subjects)
    await ensure_alerts_stream(nc, svc.subjects)
    svc.nc = nc  # wired as setup() does, without the pull loop and the wall-clock ticker
    svc.state = store(await open_bucket(nc, bucket))
    cpu = {"handle": 0.0, "tick": 0.0, "save": 0.0}
    published = 0
    per_tick, per_save = int(rate), int(rate * 5)
    done = next_tick = next_save = 0
    for batch in batches:
        if done == warmup:
            cpu = dict.fromkeys(cpu, 0.0)
            published = sum(svc.published.values())
        t0 = time.process_time()
        await svc.handle(batch)
        cpu["handle"] += time.process_time() - t0
        done += len(batch)
        now = time.time()
        while done >= next_tick + per_tick:
            next_tick += per_tick
            t0 = time.process_time()
            await svc._tick(now)
            cpu["tick"] += time.process_time() - t0
        if done >= next_save + per_save:
            next_save += per_save
            t0 = time.process_time()
            await svc._save(now, bots=True)
            cpu["save"] += time.process_time() - t0
    await nc.close()
    n = done - warmup
    changes = (sum(svc.published.values()) - published) / n
    return {k: v / n for k, v in cpu.items()} | {"total": sum(cpu.values()) / n, "changes": changes}


async def run(
    *, bots: int, events: int, warmup: int, rate: float, rounds: int, against: str | None
) -> None:
    _service._BOT_SAVE_S = math.inf  # bots are saved every 5 s of the fleet's time instead
    warmup -= warmup % BATCH
    batches = fleet_batches(bots, warmup + events, rate)
    variants: dict[str, tuple[type, type] | None] = {"current": None}
    if against:
        before = module_of(against, "_engine").Engine, module_of(against, "_state").StateStore
        variants = {f"as of {against}": before, "current": None}
    results: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
    with EmbeddedNats() as server:
        for r in range(rounds):  # interleaved, so a busy moment hits every variant
            for i, (name, classes) in enumerate(variants.items()):
                bucket = f"bench_{r}_{i}"
                result = await one_run(
                    server.url, batches, rate=rate, old=classes, bucket=bucket, warmup=warmup
                )
                results[name].append(result)

    def med(name: str, part: str) -> float:
        return statistics.median(x[part] for x in results[name]) * 1e6

    first = next(iter(variants))
    rows = []
    for name in variants:
        totals = [x["total"] * 1e6 for x in results[name]]
        rows.append(
            (
                name,
                f"{med(name, 'total'):.1f}",
                f"{min(totals):.1f}-{max(totals):.1f}",
                f"{med(name, 'handle'):.1f}",
                f"{med(name, 'tick'):.1f}",
                f"{med(name, 'save'):.1f}",
                f"{med(first, 'total') / med(name, 'total'):.2f}x",
                f"{med(name, 'changes') / 1e3:.1f}",
            )
        )
    print(
        f"{bots:,} bots, {events:,} events after {warmup:,} at {rate:,.0f}/s of fleet time, "
        f"{rounds} round(s); CPU µs per event, medians"
    )
    print(
        table(
            rows,
            (
                "alerts engine and state",
                "total",
                "range",
                "handle",
                "ticks",
                "bot saves",
                f"vs {first}",
                "alert changes per 1,000 events",
            ),
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--bots", type=int, default=1000)
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--warmup", type=int, default=30_000, help="events not counted, first")
    ap.add_argument("--rate", type=float, default=2000.0, help="events/s of the fleet's time")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--against", help="a git revision whose engine and state store to compare with")
    a = ap.parse_args()
    asyncio.run(run(**vars(a)))


if __name__ == "__main__":
    main()
