"""Acked publish throughput to JetStream from one process: tradewire vs nats-py's stock API.

usage: uv run python benchmarks/publish_throughput.py [--events 100000] [--rounds 3]

All variants publish the same encoded mark events with a ``Nats-Msg-Id`` header to the
same embedded nats-server (file storage), and count an event only once its PubAck came
back. Rounds interleave the variants; the table shows each one's median.
- js.publish loop: ``await js.publish(...)`` per event (a tenth of the events: it is slow);
- js.publish_async: stock pipelining, at most 4000 in flight, then
  ``publish_async_completed()``;
- tradewire Publisher: ``emit`` every event (yielding to the loop every 1000), then
  ``flush()``; includes stamping, encoding and validation, which the stock variants skip.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
from nats.aio.client import Client

sys.path.insert(0, str(Path(__file__).parent))
from _common import table

from tradewire.consumers.embedded import EmbeddedNats
from tradewire.publisher import Publisher, ensure_events_stream
from tradewire.schemas import Mark, Subjects, encode

SUBJECTS = Subjects()


def payloads(n: int, tag: str) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        ev = Mark(
            symbol="BTC-USD",
            price=64000.0 + i,
            bot="bench",
            run=tag,
            seq=i + 1,
            id=f"{tag}-{i + 1}",
            ts=time.time(),
        )
        out.append((ev.id, encode(ev)))
    return out


async def stock_publish(nc: Client, n: int, tag: str) -> float:
    js = nc.jetstream()
    msgs = payloads(n, tag)
    subject = SUBJECTS.event("bench", "mark")
    t0 = time.perf_counter()
    for mid, data in msgs:
        await js.publish(subject, data, headers={"Nats-Msg-Id": mid})
    return n / (time.perf_counter() - t0)


async def stock_publish_async(nc: Client, n: int, tag: str) -> float:
    js = nc.jetstream(publish_async_max_pending=4000)
    msgs = payloads(n, tag)
    subject = SUBJECTS.event("bench", "mark")
    t0 = time.perf_counter()
    futures = [
        await js.publish_async(subject, data, headers={"Nats-Msg-Id": mid}) for mid, data in msgs
    ]
    await js.publish_async_completed()
    for f in futures:
        f.result()  # raises if any publish failed
    return n / (time.perf_counter() - t0)


async def tradewire(url: str, n: int, tmp: Path) -> float:
    pub = await Publisher("bench-tw", url=url, outbox_dir=tmp, heartbeat_interval_s=0).start()
    await pub.flush(10)  # connected before the clock starts, as for the others
    t0 = time.perf_counter()
    for i in range(n):
        pub.emit(Mark(symbol="BTC-USD", price=64000.0 + i))
        if i % 1000 == 999:
            await asyncio.sleep(0)
    assert await pub.flush(300)
    rate = n / (time.perf_counter() - t0)
    stats = await pub.close()
    assert stats.acked == stats.emitted == n, stats
    return rate


async def run(events: int, rounds: int) -> None:
    with EmbeddedNats() as server, tempfile.TemporaryDirectory() as tmp:
        nc = await nats.connect(server.url)
        await ensure_events_stream(nc, SUBJECTS)
        variants: dict[str, Callable[[int], Awaitable[float]]] = {
            "nats-py js.publish loop": lambda r: stock_publish(nc, events // 10, f"s{r}"),
            "nats-py js.publish_async": lambda r: stock_publish_async(nc, events, f"a{r}"),
            "tradewire Publisher": lambda r: tradewire(server.url, events, Path(tmp) / f"t{r}"),
        }
        rates: dict[str, list[float]] = {k: [] for k in variants}
        for r in range(rounds):
            for name, fn in variants.items():
                rates[name].append(await fn(r))
                print(f"round {r + 1} {name}: {rates[name][-1]:,.0f}/s", file=sys.stderr)
        info = await nc.jetstream().stream_info(SUBJECTS.events_stream)
        expected = rounds * (events // 10 + 2 * events)
        await nc.close()
    base = statistics.median(rates["nats-py js.publish_async"])
    rows = [
        (name, f"{statistics.median(v):,.0f}", f"{statistics.median(v) / base:.2f}x")
        for name, v in rates.items()
    ]
    print(table(rows, ("variant", "median acked events/s", "vs publish_async")))
    print(f"\nstream holds {info.state.messages:,} messages; expected {expected:,}")


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
