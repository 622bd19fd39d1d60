"""Publisher settings: one frozen, keyword-only object, checked when built."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tradewire.schemas import DEFAULT_MAX_SIZE, DEFAULT_ROOT

from ._auth import NatsAuth

__all__ = ["DEFAULT_URL", "PublisherConfig", "default_outbox_dir"]

DEFAULT_URL = "nats://127.0.0.1:4222"


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

    ``url`` defaults to ``$TRADEWIRE_NATS_URL`` or the local NATS port; ``auth`` (the
    bot's credential, TLS) to ``TRADEWIRE_NATS_NKEY_SEED``, ``..._TLS_CA`` and the rest of
    :meth:`NatsAuth.from_env`.
    """

    url: str = ""
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
        if not self.url:
            object.__setattr__(self, "url", os.environ.get("TRADEWIRE_NATS_URL", DEFAULT_URL))
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
