"""Create or update the events stream idempotently (every service does this at start)."""

from __future__ import annotations

from nats.aio.client import Client
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from tradewire.schemas import (
    DEFAULT_DUPLICATE_WINDOW_S,
    DEFAULT_MAX_AGE_S,
    DEFAULT_MAX_SIZE,
    Subjects,
)

__all__ = ["ensure_alerts_stream", "ensure_events_stream"]


async def ensure_events_stream(
    nc: Client,
    subjects: Subjects,
    *,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    max_bytes: int = 10 << 30,
    duplicate_window_s: float = DEFAULT_DUPLICATE_WINDOW_S,
) -> None:
    """Make ``<ROOT>_EVENTS`` exist with these limits; safe to call from every process.

    Discard policy is NEW: when the stream is full the server refuses new
    events, and publishers keep them in their outbox, rather than silently
    deleting old events no consumer has read yet.
    """
    config = StreamConfig(
        name=subjects.events_stream,
        subjects=[subjects.events_wildcard],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        max_age=max_age_s,
        max_bytes=max_bytes,
        max_msg_size=DEFAULT_MAX_SIZE * 2,
        duplicate_window=duplicate_window_s,
    )
    await _ensure(nc, config)


async def ensure_alerts_stream(
    nc: Client,
    subjects: Subjects,
    *,
    max_age_s: float = 90 * 24 * 3600.0,
    duplicate_window_s: float = DEFAULT_DUPLICATE_WINDOW_S,
) -> None:
    """Make ``<ROOT>_ALERTS`` (alert state changes) exist; kept 90 days by default."""
    await _ensure(
        nc,
        StreamConfig(
            name=subjects.alerts_stream,
            subjects=[subjects.alerts_wildcard],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=max_age_s,
            duplicate_window=duplicate_window_s,
        ),
    )


async def _ensure(nc: Client, config: StreamConfig) -> None:
    js = nc.jetstream()
    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        await js.add_stream(config)
    else:
        await js.update_stream(config)
