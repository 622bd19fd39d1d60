"""A simulated fleet's recent past, played fast: the simulator's bots (``BotModel``) with
their event times spread over the last ``seconds``, published through real publishers.

A two-minute run in a second or two: what a report or a chart of a short demo sees,
without waiting for it.
"""

from __future__ import annotations

import time
from pathlib import Path

from tradewire.consumers.simulate import BotModel
from tradewire.publisher import Publisher, PublisherConfig
from tradewire.schemas import DEFAULT_ROOT

__all__ = ["bot_ids", "play_history"]


def bot_ids(n: int, prefix: str = "sim-bot") -> list[str]:
    return [f"{prefix}-{i:02d}" for i in range(1, n + 1)]


async def play_history(
    url: str,
    bots: list[str],
    outbox: Path,
    *,
    seconds: float = 120.0,
    cycles_per_s: float = 2.0,
    seed: int = 3,
    root: str = DEFAULT_ROOT,
) -> int:
    """Publish each bot's cycles with times from ``now - seconds`` to now; return how
    many events were acked (all of them, or the flush fails)."""
    now = time.time()
    cycles = int(seconds * cycles_per_s)
    config = PublisherConfig(url=url, root=root, heartbeat_interval_s=0, lifecycle_events=False)
    acked = 0
    for bot in bots:
        model = BotModel(bot, seed)
        pub = await Publisher(bot, config, outbox_dir=outbox / bot).start()
        for i in range(cycles):
            ts = now - seconds + i / cycles_per_s
            for ev in model.cycle():
                ev.ts = ts
                pub.emit(ev)
        await pub.flush(30.0)
        stats = await pub.close()
        assert stats.acked == stats.emitted, stats
        acked += stats.acked
    return acked
