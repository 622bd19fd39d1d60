"""``tradewire demo``: an embedded NATS, a simulated fleet, and a live view of what arrives."""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path

import nats

from tradewire.publisher import ensure_events_stream
from tradewire.schemas import Envelope, Subjects, kind_of

from .simulate import SimulationConfig, print_progress, run_simulation
from .tail import describe, tail

__all__ = ["run_demo"]

# Too frequent to be worth a line each; they still count in the totals.
_ROUTINE = frozenset({"mark", "cycle", "heartbeat", "broker_call"})


class _Sampler:
    """Print a few notable events per second (orders, fills, guards, ...) and count them all."""

    def __init__(self, per_second: int = 3) -> None:
        self.per_second = per_second
        self.counts: Counter[str] = Counter()
        self._window = 0.0
        self._printed = 0

    def __call__(self, event: Envelope) -> None:
        kind = kind_of(event)
        self.counts[kind] += 1
        if kind in _ROUTINE:
            return
        now = time.monotonic()
        if now - self._window >= 1.0:
            self._window, self._printed = now, 0
        if self._printed < self.per_second:
            self._printed += 1
            print("  " + describe(event))


async def run_demo(url: str, config: SimulationConfig, subjects: Subjects) -> int:
    """Run the fleet, watch it arrive, and check the stream holds every acked event."""
    nc = await nats.connect(url, name="tradewire-demo")
    await ensure_events_stream(nc, subjects)
    js = nc.jetstream()
    before = (await js.stream_info(subjects.events_stream)).state.messages
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sampler = _Sampler()
    tail_stop = asyncio.Event()
    watcher = asyncio.create_task(
        tail(url, subjects, out=io.StringIO(), stop=tail_stop, on_event=sampler)
    )
    with tempfile.TemporaryDirectory(prefix="tradewire-outbox-") as outbox:
        print(
            f"simulating {config.bots} bots at {config.rate:g} events/s each for "
            f"{config.duration:g}s (Ctrl-C stops)"
        )
        result = await run_simulation(url, config, Path(outbox), progress=print_progress, stop=stop)
    await asyncio.sleep(0.3)  # let the last core-NATS copies reach the watcher
    tail_stop.set()
    await watcher
    after = (await js.stream_info(subjects.events_stream)).state.messages
    await nc.close()
    stored = after - before
    print(
        f"\nemitted {result.emitted:,} events in {result.elapsed:.1f}s "
        f"({result.emitted / max(result.elapsed, 1e-9):,.0f}/s); acked {result.acked:,}; "
        f"stored in {subjects.events_stream}: {stored:,}; seen live: "
        f"{sum(sampler.counts.values()):,}"
    )
    print("by kind: " + ", ".join(f"{k} {n:,}" for k, n in sorted(result.by_kind.items())))
    ok = stored == result.acked == result.emitted and not result.dropped
    print(
        "OK: every emitted event is in the stream exactly once"
        if ok
        else "MISMATCH: see the counts above"
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(Exception):
            loop.remove_signal_handler(sig)
    return 0 if ok else 1
