"""Reading back what JetStream holds, for the delivery tests."""

from __future__ import annotations

import asyncio
from collections import Counter

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from tradewire.schemas import Subjects

__all__ = ["stream_id_list", "stream_ids"]


async def stream_ids(nc: Client, subjects: Subjects, timeout: float = 30.0) -> Counter[str]:
    """Count of each ``Nats-Msg-Id`` in the events stream (a Counter, so repeats show)."""
    return Counter(await stream_id_list(nc, subjects, timeout))


async def stream_id_list(nc: Client, subjects: Subjects, timeout: float = 30.0) -> list[str]:
    """Every ``Nats-Msg-Id`` in the events stream, in stream order."""
    js = nc.jetstream()
    info = await js.stream_info(subjects.events_stream)
    total = info.state.messages
    ids: list[str] = []
    done = asyncio.Event()

    async def on_msg(msg: Msg) -> None:
        ids.append((msg.headers or {}).get("Nats-Msg-Id", ""))
        if len(ids) >= total:
            done.set()

    if total == 0:
        return ids
    sub = await js.subscribe(
        subjects.events_wildcard,
        cb=on_msg,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
    )
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        await sub.unsubscribe()
    return ids
