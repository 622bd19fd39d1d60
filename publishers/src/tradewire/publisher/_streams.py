"""The fleet's streams: created where missing by anyone, their limits set only by their owner.

Every component may need the events stream to exist (a simulator, a service starting
before the store), so :func:`ensure_events_stream` creates it with the default limits when
it is missing, and otherwise leaves it exactly as it is. Changing limits is the store's (its
configured ``stream_*`` settings) or an operator's (``tradewire stream set``) business, via
:func:`apply_stream_limits`, which refuses to shrink a limit unless told to: a shorter
``max_age`` or ``max_bytes`` deletes history at once.

On a clustered JetStream the owner also sets ``replicas`` (R3: each message on three
nodes, so one node may die), and may split the events stream into ``partitions`` by
bot: the server's ``partition(n, wildcard)`` subject mapping stores
``<root>.evt.<bot>.<kind>`` as ``<root>.evt.<bot>.<kind>.<p>``, p = FNV-1a(bot) mod n,
so N instances of a service can each consume their own share with filter subjects
(docs/scaling.md). The partition count is fixed once set: stored subjects carry it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from nats.aio.client import Client
from nats.js.api import (
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
    SubjectTransform,
)
from nats.js.errors import NotFoundError

from tradewire.schemas import (
    DEFAULT_DUPLICATE_WINDOW_S,
    DEFAULT_MAX_AGE_S,
    DEFAULT_MAX_SIZE,
    Subjects,
)

__all__ = [
    "DEFAULT_ALERTS_MAX_AGE_S",
    "DEFAULT_MAX_BYTES",
    "MAX_PARTITIONS",
    "MAX_REPLICAS",
    "StreamLimitError",
    "StreamLimits",
    "apply_stream_limits",
    "ensure_alerts_stream",
    "ensure_events_stream",
    "ensure_replicas",
    "events_replicas",
    "partition_transform",
    "stream_partitions",
]

DEFAULT_MAX_BYTES = 10 << 30
DEFAULT_ALERTS_MAX_AGE_S = 90 * 24 * 3600.0
MAX_REPLICAS = 5  # JetStream's own limit
MAX_PARTITIONS = 1024
_PARTITION = re.compile(r"\{\{\s*partition\((\d+),\s*1\)\s*\}\}")


class StreamLimitError(ValueError):
    """A limit change would delete history, or is not a valid limit."""


@dataclass(frozen=True, kw_only=True)
class StreamLimits:
    """Limits to set on a stream; ``None`` leaves that limit as it is."""

    max_age_s: float | None = None
    max_bytes: int | None = None
    duplicate_window_s: float | None = None
    replicas: int | None = None  # copies of each message, 1-5 (> 1 needs a cluster)
    partitions: int | None = None  # split by bot, 2-1024; fixed once set

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if value is not None and not value > 0:
                raise StreamLimitError(f"{name} must be > 0, not {value!r}")
        if self.replicas is not None and not 1 <= self.replicas <= MAX_REPLICAS:
            raise StreamLimitError(f"replicas must be 1 to {MAX_REPLICAS}, not {self.replicas}")
        if self.partitions is not None and not 2 <= self.partitions <= MAX_PARTITIONS:
            raise StreamLimitError(
                f"partitions must be 2 to {MAX_PARTITIONS}, not {self.partitions}"
            )


def partition_transform(subjects: Subjects, partitions: int) -> SubjectTransform:
    """The events stream's mapping that appends each bot's partition to its subjects."""
    evt = subjects.events_wildcard.removesuffix(">")
    return SubjectTransform(
        src=f"{evt}*.*",
        dest=f"{evt}{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}.{{{{partition({partitions},1)}}}}",
    )


def stream_partitions(config: StreamConfig) -> int:
    """The partition count of an events stream's config; 0 when it is not partitioned."""
    transform = config.subject_transform
    match = _PARTITION.search(transform.dest) if transform else None
    return int(match.group(1)) if match else 0


def _events_config(subjects: Subjects) -> StreamConfig:
    """The events stream as created: discard policy NEW, so a full stream refuses new
    events (publishers keep them in their outbox) rather than silently deleting old
    events no consumer has read yet."""
    return StreamConfig(
        name=subjects.events_stream,
        subjects=[subjects.events_wildcard],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        max_age=DEFAULT_MAX_AGE_S,
        max_bytes=DEFAULT_MAX_BYTES,
        max_msg_size=DEFAULT_MAX_SIZE * 2,
        duplicate_window=DEFAULT_DUPLICATE_WINDOW_S,
    )


def _alerts_config(subjects: Subjects) -> StreamConfig:
    return StreamConfig(
        name=subjects.alerts_stream,
        subjects=[subjects.alerts_wildcard],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=DEFAULT_ALERTS_MAX_AGE_S,
        duplicate_window=DEFAULT_DUPLICATE_WINDOW_S,
    )


async def _create_if_missing(nc: Client, config: StreamConfig) -> StreamInfo:
    js = nc.jetstream()
    try:
        return await js.stream_info(config.name or "")
    except NotFoundError:
        return await js.add_stream(config)


async def ensure_events_stream(nc: Client, subjects: Subjects) -> StreamInfo:
    """Create ``<ROOT>_EVENTS`` with the default limits if it is missing; never change it."""
    return await _create_if_missing(nc, _events_config(subjects))


async def ensure_alerts_stream(nc: Client, subjects: Subjects) -> StreamInfo:
    """Create ``<ROOT>_ALERTS`` (alert state changes, 90 days) if it is missing."""
    return await _create_if_missing(nc, _alerts_config(subjects))


async def events_replicas(nc: Client, subjects: Subjects) -> int:
    """The events stream's replica count (1 without a stream): what the fleet's buckets are
    created with, so a cluster's R3 holds for them too."""
    try:
        info = await nc.jetstream().stream_info(subjects.events_stream)
    except NotFoundError:
        return 1
    return info.config.num_replicas or 1


async def ensure_replicas(nc: Client, stream: str, replicas: int) -> tuple[int, int]:
    """Give ``stream`` (e.g. a key-value bucket's ``KV_<bucket>``) ``replicas``; (before, after)."""
    js = nc.jetstream()
    config = (await js.stream_info(stream)).config
    before = config.num_replicas or 1
    if before != replicas:
        config.num_replicas = replicas
        await js.update_stream(config)
    return before, replicas


def _shrinks(current: float | None, wanted: float | None) -> bool:
    """``None``/0/-1 on the server mean unlimited, so any finite value shrinks those."""
    if wanted is None:
        return False
    unlimited = current is None or current <= 0
    return unlimited or wanted < current  # type: ignore[operator]


async def apply_stream_limits(
    nc: Client, subjects: Subjects, limits: StreamLimits, *, allow_shrink: bool = False
) -> tuple[StreamConfig, StreamConfig]:
    """Create the events stream if missing, then set ``limits`` on it; return (before, after).

    Raise :class:`StreamLimitError` when a limit would shrink and ``allow_shrink`` is False,
    and when ``partitions`` would change a partition count already set.
    """
    js = nc.jetstream()
    before = (await ensure_events_stream(nc, subjects)).config
    shrinking = [
        name
        for name, current, wanted in (
            ("max_age", before.max_age, limits.max_age_s),
            ("max_bytes", before.max_bytes, limits.max_bytes),
        )
        if _shrinks(current, wanted)
    ]
    if shrinking and not allow_shrink:
        raise StreamLimitError(
            f"{subjects.events_stream}: lowering {' and '.join(shrinking)} "
            f"(now max_age {_age(before.max_age)}, max_bytes {before.max_bytes}) deletes "
            "history at once; run `tradewire stream set ... --allow-shrink` to do it on purpose"
        )
    transform = before.subject_transform
    if limits.partitions is not None:
        current = stream_partitions(before)
        if current and current != limits.partitions:
            raise StreamLimitError(
                f"{subjects.events_stream} is split into {current} partitions; they cannot "
                f"change to {limits.partitions} (the stored subjects carry them): run with "
                f"{current}, or see docs/scaling.md"
            )
        transform = partition_transform(subjects, limits.partitions)
    after = dataclasses.replace(
        before,
        max_age=limits.max_age_s if limits.max_age_s is not None else before.max_age,
        max_bytes=limits.max_bytes if limits.max_bytes is not None else before.max_bytes,
        duplicate_window=(
            limits.duplicate_window_s
            if limits.duplicate_window_s is not None
            else before.duplicate_window
        ),
        num_replicas=limits.replicas if limits.replicas is not None else before.num_replicas,
        subject_transform=transform,
    )
    if after != before:
        after = (await js.update_stream(after)).config
    return before, after


def _age(seconds: float | None) -> str:
    if not seconds or seconds <= 0:
        return "unlimited"
    return f"{seconds / 86400:g}d" if seconds >= 86400 else f"{seconds:g}s"
