"""``tradewire bridge traderagent``: Redis pub/sub in, one tradewire publisher per bot out.

Redis pub/sub keeps nothing for a subscriber that is away. The bridge reconnects with
backoff, and on each reconnect reports the window it was away (``reconnect_window``)
to every bot it knows, so the loss shows up in metrics and the store instead of
passing silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as redis
from redis.exceptions import RedisError

from tradewire.publisher import NatsAuth, Publisher, default_outbox_dir

from ._traderagent import TraderAgentMapper

__all__ = ["BridgeStats", "run_traderagent_bridge"]

log = logging.getLogger("tradewire.bridge")

CHANNEL_PATTERN = "trading_events:*"


@dataclass
class BridgeStats:
    messages: int = 0
    events: int = 0
    undecodable: int = 0
    reconnects: int = 0
    away_s: float = 0.0  # time spent without a subscription after the first one
    subscribed: bool = False
    events_by_kind: Counter[str] = field(default_factory=Counter)
    losses: dict[str, Counter[str]] = field(default_factory=dict)  # by bot, what


async def run_traderagent_bridge(
    redis_url: str,
    nats_url: str,
    *,
    stop: asyncio.Event,
    root: str = "tradewire",
    outbox_root: Path | None = None,
    symbols: dict[str, str] | None = None,
    pattern: str = CHANNEL_PATTERN,
    on_subscribed: Callable[[BridgeStats], None] | None = None,
    auth: NatsAuth | None = None,
) -> BridgeStats:
    """Bridge until ``stop`` is set; returns what it saw. ``auth``: the credential every
    bot's publisher connects with (default: the environment's)."""
    mapper = TraderAgentMapper(symbols)
    stats = BridgeStats()
    pubs: dict[str, Publisher] = {}

    async def publisher(bot: str) -> Publisher:
        if bot not in pubs:
            outbox = (outbox_root / bot) if outbox_root else default_outbox_dir(f"bridge-{bot}")
            pubs[bot] = await Publisher(
                bot,
                url=nats_url,
                root=root,
                outbox_dir=outbox,
                heartbeat_interval_s=0,  # the bridge is not the bot: no heartbeat in its name
                lifecycle_events=False,
                auth=auth,
            ).start()
        return pubs[bot]

    async def forward(message: dict[str, object]) -> None:
        bot, events = mapper.map(message)
        if not bot or not events:
            return
        pub = await publisher(bot)
        for event in events:
            pub.emit(event)
            stats.events += 1
            stats.events_by_kind[type(event).__name__.lower()] += 1

    client = redis.from_url(redis_url, decode_responses=True)
    down_since: float | None = None
    backoff = 0.2
    try:
        while not stop.is_set():
            pubsub = client.pubsub()
            try:
                await pubsub.psubscribe(pattern)
                if down_since is not None:
                    away = time.monotonic() - down_since
                    stats.reconnects += 1
                    stats.away_s += away
                    log.warning("redis back after %.1f s: messages published then are lost", away)
                    for bot in list(mapper.bots):
                        (await publisher(bot)).emit(mapper.loss(bot, "reconnect_window"))
                    down_since = None
                stats.subscribed, backoff = True, 0.2
                if on_subscribed is not None:
                    on_subscribed(stats)
                while not stop.is_set():
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                    if msg is None or msg.get("type") != "pmessage":
                        continue
                    stats.messages += 1
                    try:
                        payload = json.loads(msg["data"])
                    except (TypeError, ValueError):
                        payload = None
                    if not isinstance(payload, dict):
                        stats.undecodable += 1
                        continue
                    await forward(payload)
            except (RedisError, OSError) as exc:
                if stats.subscribed and down_since is None:
                    down_since = time.monotonic()
                    log.warning("redis unreachable (%s); reconnecting", exc)
                stats.subscribed = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
    finally:
        await client.aclose()
        for pub in pubs.values():
            await pub.close(10)
        stats.losses = {bot: view.losses for bot, view in mapper.bots.items() if view.losses}
    return stats
