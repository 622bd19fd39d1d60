"""A bot process for the crash test: emits N events, reports, then waits to be killed.

usage: python _bot_process.py URL OUTBOX_DIR COUNT
Prints one event id per line, then READY once all of them sit in the outbox.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tradewire.publisher import Publisher


async def main(url: str, outbox: Path, count: int) -> None:
    # max_memory_events=0: every event goes to the outbox before it is sent.
    pub = await Publisher(
        "crash-bot",
        url=url,
        outbox_dir=outbox,
        max_memory_events=0,
        heartbeat_interval_s=0,
        lifecycle_events=False,
    ).start()
    for i in range(count):
        print(pub.mark(symbol="BTC-USD", price=float(i + 1)).id)
    while pub.stats().in_outbox < count:
        await asyncio.sleep(0.01)
    print("READY", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
