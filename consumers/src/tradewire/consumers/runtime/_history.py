"""Reading a slice of the events stream once, at a service's start (no durable, no acks).

The reading consumer has a name the caller picks (``<durable>-history``), not a random
one: a server that lets a service pull only from consumers it names (least privilege:
the metrics service must not be able to pull, and ack, the store's messages) can say so.
It is deleted after use; one left by a crash goes after 30 s idle, or at the next start.

It is read with the services' own pull (:class:`PullConsumer`), not nats-py's
``fetch()``: the alerts service replays its longest window (5 minutes of the fleet) at
each start, and ``fetch()`` (one ``wait_for`` per message) made a restart under a
200-bot fleet take 90 s (found by benchmarks/soak.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Sequence

from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from tradewire.schemas import Event, EventError, Subjects, decode

from ._delivery import Delivery
from ._partition import Partition
from ._pull import Acks, ConsumerSettings, PullConsumer

__all__ = ["read_history"]

_IDLE_S = 5.0  # no message for this long: the rest of the slice is gone


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
        n += await _read(nc, subjects, config, partition, on_event)
    return n


async def _read(
    nc: Client,
    subjects: Subjects,
    config: ConsumerConfig,
    partition: Partition,
    on_event: Callable[[Event], object],
) -> int:
    """What one consumer, created here and deleted after, reads to the stream's end."""
    js = nc.jetstream()
    stream = subjects.events_stream
    assert config.name is not None
    # One left by a start that crashed: its position is not ours.
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(stream, config.name)
    info = await js.add_consumer(stream, config)
    n = 0
    if not info.num_pending:
        with contextlib.suppress(Exception):
            await js.delete_consumer(stream, config.name)
        return 0
    last = [time.monotonic()]

    async def handle(batch: Sequence[Delivery]) -> Acks:
        nonlocal n
        for d in batch:
            try:
                bot, kind = partition.check_subject(subjects, d.subject)
                if not partition.owns(bot):
                    continue  # stored before the stream was split: another's
                on_event(
                    decode(
                        d.data, expect_bot=bot, expect_kind=kind, received_at=d.received_ns / 1e9
                    )
                )
            except EventError:
                continue
            n += 1
        last[0] = time.monotonic()  # after the work: a slow batch is not idleness
        if batch[-1].pending == 0:
            puller.stop()
        return Acks()  # AckPolicy.NONE: nothing to ack

    filters = config.filter_subjects or [config.filter_subject or subjects.events_wildcard]
    settings = ConsumerSettings(
        stream=stream,
        durable=config.name,
        filter_subject=filters[0],
        filter_subjects=tuple(filters) if len(filters) > 1 else (),
        max_batch=5000,
        request_size=1000,
        max_wait_s=0.05,
    )
    puller = PullConsumer(nc, settings, handle)

    async def idle() -> None:  # nothing more comes (purged meanwhile): stop anyway
        while time.monotonic() - last[0] < _IDLE_S:
            await asyncio.sleep(0.5)
        puller.stop()

    watchdog = asyncio.create_task(idle())
    try:
        await puller.run()
    finally:
        watchdog.cancel()
        with contextlib.suppress(Exception):
            await js.delete_consumer(stream, config.name)
    return n
