"""The fleet's streams: created where missing by anyone, their limits set only by their owner.

Every component may need the events stream to exist (a simulator, a service starting
before the store), so :func:`ensure_events_stream` creates it with the default limits when
it is missing, and otherwise leaves it exactly as it is. Changing limits is the store's (its
configured ``stream_*`` settings) or an operator's (``tradewire stream set``) business, via
:func:`apply_stream_limits`, which refuses to shrink a limit unless told to: a shorter
``max_age`` or ``max_bytes`` deletes history at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nats.aio.client import Client
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig, StreamInfo
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
    "StreamLimitError",
    "StreamLimits",
    "apply_stream_limits",
    "ensure_alerts_stream",
    "ensure_events_stream",
]

DEFAULT_MAX_BYTES = 10 << 30
DEFAULT_ALERTS_MAX_AGE_S = 90 * 24 * 3600.0


class StreamLimitError(ValueError):
    """A limit change would delete history, or is not a valid limit."""


@dataclass(frozen=True, kw_only=True)
class StreamLimits:
    """Limits to set on a stream; ``None`` leaves that limit as it is."""

    max_age_s: float | None = None
    max_bytes: int | None = None
    duplicate_window_s: float | None = None

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if value is not None and not value > 0:
                raise StreamLimitError(f"{name} must be > 0, not {value!r}")


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

    Raise :class:`StreamLimitError` when a limit would shrink and ``allow_shrink`` is False.
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
    after = dataclasses.replace(
        before,
        max_age=limits.max_age_s if limits.max_age_s is not None else before.max_age,
        max_bytes=limits.max_bytes if limits.max_bytes is not None else before.max_bytes,
        duplicate_window=(
            limits.duplicate_window_s
            if limits.duplicate_window_s is not None
            else before.duplicate_window
        ),
    )
    if after != before:
        after = (await js.update_stream(after)).config
    return before, after


def _age(seconds: float | None) -> str:
    if not seconds or seconds <= 0:
        return "unlimited"
    return f"{seconds / 86400:g}d" if seconds >= 86400 else f"{seconds:g}s"
