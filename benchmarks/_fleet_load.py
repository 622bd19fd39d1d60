"""Load for ``whole_box.py``: a simulated fleet of N bots at a fixed total rate, one process.

usage: python benchmarks/_fleet_load.py URL --bots 1000 --rate 20000 --seconds 60
                                        --mode tradewire|stock

Each bot is a :class:`BotModel` (the simulator's mix of kinds) with its own run and
gap-free seq, so the consumers hold per-bot state for every bot. One NATS connection
carries them all (a real fleet has a process per bot; a thousand connections on this
2-core box would measure the load generator, not the pipeline). Every event goes with
``Nats-Msg-Id`` and counts once its PubAck is back:
- ``tradewire``: the publisher's own wire path (``tradewire.publisher._wire``: HPUB frames
  a window at a time, one subscription receiving every PubAck), as ``Publisher`` sends;
- ``stock``: ``js.publish_async`` with at most 4,000 in flight.
Events are stamped and encoded when sent (ts = now). At most ``--in-flight`` un-acked
events: past that, the generator falls behind and says so. Prints one JSON line at the
end: sent, acked, errors, seconds, acked_rate, cpu_s (its own CPU time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from collections import deque

import nats
from nats.aio.msg import Msg
from nats.js.api import PubAck

from tradewire.consumers.simulate import BotModel
from tradewire.publisher import ensure_events_stream
from tradewire.publisher._outbox import OutboxItem
from tradewire.publisher._wire import has_fast_path, send_window
from tradewire.schemas import Envelope, Subjects, encode, kind_of

SUBJECTS = Subjects()
TICK_S = 0.01
WINDOW = 500


class Fleet:
    """The bots, each stamping its own events in order."""

    def __init__(self, bots: int, seed: int) -> None:
        self.models = [BotModel(f"wb-{i:04d}", seed) for i in range(bots)]
        self.runs = [secrets.token_hex(8) for _ in self.models]
        self.seqs = [0] * bots
        self.pending: list[deque[Envelope]] = [deque() for _ in self.models]
        self.next_bot = 0

    def take(self, n: int) -> list[tuple[str, str, bytes]]:
        """(subject, id, data) for the next ``n`` events, round robin over the bots."""
        out = []
        now = time.time()
        for _ in range(n):
            i = self.next_bot
            self.next_bot = (i + 1) % len(self.models)
            queue = self.pending[i]
            if not queue:
                queue.extend(self.models[i].cycle())
            ev = queue.popleft()
            self.seqs[i] += 1
            model = self.models[i]
            ev.bot, ev.run, ev.seq, ev.ts = model.bot, self.runs[i], self.seqs[i], now
            ev.id = f"{ev.run}-{ev.seq}"
            out.append((SUBJECTS.event(model.bot, kind_of(ev)), ev.id, encode(ev)))
        return out


async def run(
    url: str, *, bots: int, rate: float, seconds: float, mode: str, limit: int
) -> dict[str, float]:
    nc = await nats.connect(url, max_reconnect_attempts=-1)
    await ensure_events_stream(nc, SUBJECTS)
    fleet = Fleet(bots, seed=1)
    acked = errors = sent = 0
    inbox = nc.new_inbox() + "."

    async def on_ack(msg: Msg) -> None:
        nonlocal acked, errors
        if b'"error"' in msg.data:
            errors += 1
        else:
            acked += 1

    await nc.subscribe(inbox + "*", cb=on_ack)
    js = nc.jetstream(publish_async_max_pending=4000)
    fast = has_fast_path(nc)
    futures: deque[asyncio.Future[PubAck]] = deque()
    t0 = time.monotonic()
    end = t0 + seconds
    while (now := time.monotonic()) < end:
        due = int(rate * (now - t0)) - sent
        if mode == "stock":
            while futures and futures[0].done():
                f = futures.popleft()
                if f.exception() is None:
                    acked += 1
                else:
                    errors += 1
            in_flight = len(futures)
        else:
            in_flight = sent - acked - errors
        due = min(due, limit - in_flight)
        if due > 0:
            batch = fleet.take(due)
            if mode == "stock":
                for subject, mid, data in batch:
                    futures.append(
                        await js.publish_async(subject, data, headers={"Nats-Msg-Id": mid})
                    )
            else:
                items = [OutboxItem(s, mid, data) for s, mid, data in batch]
                for k in range(0, len(items), WINDOW):
                    await send_window(nc, items[k : k + WINDOW], inbox, fast)
            sent += len(batch)
        await asyncio.sleep(TICK_S)
    elapsed = time.monotonic() - t0
    # What is still in flight is waited for, briefly, so acked says what got through.
    settle = time.monotonic() + 5
    while time.monotonic() < settle:
        if mode == "stock":
            if all(f.done() for f in futures):
                break
        elif acked + errors >= sent:
            break
        await asyncio.sleep(0.05)
    if mode == "stock":
        acked += sum(1 for f in futures if f.done() and f.exception() is None)
        errors += sum(1 for f in futures if f.done() and f.exception() is not None)
    await nc.close()
    return {
        "sent": sent,
        "acked": acked,
        "errors": errors,
        "seconds": elapsed,
        "acked_rate": acked / elapsed,
        "cpu_s": time.process_time(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("url")
    ap.add_argument("--bots", type=int, default=1000)
    ap.add_argument("--rate", type=float, required=True, help="events/s, the whole fleet")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--mode", choices=("tradewire", "stock"), default="tradewire")
    ap.add_argument("--in-flight", type=int, default=20_000)
    a = ap.parse_args()
    result = asyncio.run(
        run(a.url, bots=a.bots, rate=a.rate, seconds=a.seconds, mode=a.mode, limit=a.in_flight)
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
