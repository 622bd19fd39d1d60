"""A publisher's own counters, as returned by ``stats()``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PublisherStats"]


@dataclass(frozen=True, kw_only=True)
class PublisherStats:
    """A snapshot; every count is since this publisher started.

    ``emitted`` = ``acked`` + ``buffered`` + ``in_outbox`` + ``dropped`` +
    ``rejected`` + ``refused`` once the publisher is idle (outbox events replayed from an
    earlier run add to ``acked`` and ``in_outbox`` but not to ``emitted``).
    """

    emitted: int
    acked: int
    buffered: int  # in memory: queued, waiting, or sent and awaiting an ack
    in_outbox: int  # on disk, not yet acknowledged
    dropped: int  # lost to a full disk or the outbox size cap
    rejected: int  # failed validation (NaN, bad enum, too large): never sent
    # Refused by the server's permissions (the credential may not publish as this bot):
    # counted and dropped, neither retried nor kept in the outbox.
    refused: int
    retries: int  # re-sends after an ack timeout, an error ack or a reconnect
    outbox_corrupt: int  # unreadable outbox lines skipped (a crash mid-write)
    connected: bool
    last_error: str
