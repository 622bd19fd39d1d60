"""Publisher settings: one frozen, keyword-only object, checked when built."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tradewire.schemas import DEFAULT_MAX_SIZE, DEFAULT_ROOT

from ._auth import NatsAuth

__all__ = ["DEFAULT_URL", "PublisherConfig", "default_outbox_dir", "server_urls"]

DEFAULT_URL = "nats://127.0.0.1:4222"


def server_urls(url: str | Sequence[str]) -> list[str]:
    """The servers of a NATS URL setting: one URL, several separated by commas, or a list.

    A cluster's nodes are given this way; nats-py takes them as ``servers=[...]``, connects
    to one and, when it goes away, reconnects to another (and to the nodes the cluster
    announces). A single string is never handed to nats-py as is: it would read
    ``a:4222,b:4222`` as one host.
    """
    items = url.split(",") if isinstance(url, str) else list(url)
    return [u.strip() for u in items if u.strip()]


def default_outbox_dir(bot: str) -> Path:
    """``$TRADEWIRE_OUTBOX_DIR/<bot>``, else ``$XDG_STATE_HOME/tradewire/outbox/<bot>``.

    A state directory, not a temporary one: the outbox must survive a reboot.
    """
    base = os.environ.get("TRADEWIRE_OUTBOX_DIR")
    if base:
        return Path(base) / bot
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "tradewire" / "outbox" / bot


@dataclass(frozen=True, kw_only=True)
class PublisherConfig:
    """How a publisher talks to NATS and how much it holds before spilling to disk.

    ``url`` defaults to ``$TRADEWIRE_NATS_URL`` or the local NATS port; a cluster's nodes
    are several URLs, comma-separated or a list (kept as one comma-separated string,
    :func:`server_urls` splits it); ``auth`` (the
    bot's credential, TLS) to ``TRADEWIRE_NATS_NKEY_SEED``, ``..._TLS_CA`` and the rest of
    :meth:`NatsAuth.from_env`.
    """

    url: str | Sequence[str] = ""
    auth: NatsAuth | None = None
    root: str = DEFAULT_ROOT
    outbox_dir: Path | None = None
    # Un-acked events kept in memory; past this they go to the outbox on disk.
    max_memory_events: int = 50_000
    # Past this many bytes on disk, new events are dropped and counted.
    max_outbox_bytes: int = 1 << 30
    outbox_segment_bytes: int = 8 << 20
    # fsync each outbox write batch: survives power loss, costs a disk flush.
    outbox_fsync: bool = False
    max_in_flight: int = 4000
    ack_timeout_s: float = 5.0
    retry_backoff_max_s: float = 10.0
    max_event_size: int = DEFAULT_MAX_SIZE
    heartbeat_interval_s: float = 15.0
    # Heartbeats carry the process's CPU, memory, open files, threads, disk and network.
    process_stats: bool = True
    # A `lifecycle` event when the publisher starts (started) and closes (stopped), so a
    # restart shows. Off for tools that forward other processes' events (importers).
    lifecycle_events: bool = True
    version: str = ""
    profile: str = ""
    # Frame publishes in batches through nats-py's outgoing buffer (see _wire.py);
    # False uses the public publish() per event.
    fast_path: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        url = ",".join(server_urls(self.url))
        if not url:
            url = ",".join(server_urls(os.environ.get("TRADEWIRE_NATS_URL", DEFAULT_URL)))
        object.__setattr__(self, "url", url or DEFAULT_URL)
        if self.auth is None:
            object.__setattr__(self, "auth", NatsAuth.from_env())
        checks = {
            "max_memory_events": self.max_memory_events >= 0,
            "max_outbox_bytes": self.max_outbox_bytes > 0,
            "outbox_segment_bytes": self.outbox_segment_bytes >= 4096,
            "max_in_flight": self.max_in_flight >= 1,
            "ack_timeout_s": self.ack_timeout_s > 0,
            "retry_backoff_max_s": self.retry_backoff_max_s > 0,
            "max_event_size": 256 <= self.max_event_size <= 1 << 20,
            "heartbeat_interval_s": self.heartbeat_interval_s >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid PublisherConfig value(s): {', '.join(bad)}")
