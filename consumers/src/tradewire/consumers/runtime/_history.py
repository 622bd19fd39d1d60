"""Reading a slice of the events stream once, at a service's start (no durable, no acks).

The reading consumer has a name the caller picks (``<durable>-history``), not a random
one: a server that lets a service pull only from consumers it names (least privilege:
the metrics service must not be able to pull, and ack, the store's messages) can say so.
It is deleted after use; one left by a crash goes after 30 s idle, or at the next start.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from tradewire.schemas import Event, EventError, Subjects, decode

from ._partition import Partition

__all__ = ["read_history"]


async def read_history(
    nc: Client,
    subjects: Subjects,
    on_event: Callable[[Event], object],
    *,
    since: float | None = None,
    name: str = "",
    partition: Partition | None = None,
) -> int:
    """Feed valid events to ``on_event``; return how many.

    ``since=None``: the last message of every subject (each bot's latest of each kind);
    else every event stored since that time (seconds since the epoch). Invalid messages
    are skipped: the store quarantines them. ``name``: the reading consumer's (see the
    module doc); empty: a random one. ``partition``: only that instance's bots' events,
    read a stream partition at a time (``<name>-s<p>``, see ``Partition.consumers``).
    """
    partition = partition or Partition()
    js = nc.jetstream()
    if not (await js.stream_info(subjects.events_stream)).state.messages:
        return 0
    if since is None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
    else:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=dt.datetime.fromtimestamp(since, dt.UTC),
        )
    config.ack_policy = AckPolicy.NONE
    config.inactive_threshold = 30.0
    name = name or nc.new_inbox().rsplit(".", 1)[1]
    n = 0
    # A share of the fleet is read a stream partition at a time, through one filter each
    # (several filters on one consumer are far slower: Partition.consumers).
    for suffix, filters in partition.consumers(subjects):
        config.filter_subject = filters[0] if len(filters) == 1 else None
        config.filter_subjects = filters if len(filters) > 1 else None
        config.name = name + suffix
        n += await _read(js, subjects, config, partition, on_event)
    return n


async def _read(
    js: JetStreamContext,
    subjects: Subjects,
    config: ConsumerConfig,
    partition: Partition,
    on_event: Callable[[Event], object],
) -> int:
    """What one consumer, created here and deleted after, reads to the stream's end."""
    stream = subjects.events_stream
    assert config.name is not None
    # One left by a start that crashed: its position is not ours.
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(stream, config.name)
    await js.add_consumer(stream, config)
    sub = await js.pull_subscribe_bind(consumer=config.name, stream=stream)
    n = 0
    try:
        while True:
            try:
                msgs = await sub.fetch(1000, timeout=1.0)
            except TimeoutError:  # nats-py's own, or asyncio's from some of its paths
                break
            for m in msgs:
                try:
                    bot, kind = partition.check_subject(subjects, m.subject)
                    if not partition.owns(bot):
                        continue  # stored before the stream was split: another's
                    received_at = m.metadata.timestamp.timestamp()
                    on_event(
                        decode(m.data, expect_bot=bot, expect_kind=kind, received_at=received_at)
                    )
                except EventError:
                    continue
                n += 1
            if not msgs or msgs[-1].metadata.num_pending == 0:
                break
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        with contextlib.suppress(Exception):
            await js.delete_consumer(stream, config.name)
    return n
