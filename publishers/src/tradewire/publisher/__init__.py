"""Publish a trading bot's telemetry to NATS JetStream without ever blocking the bot.

>>> import asyncio
>>> from tradewire.publisher import RecordingPublisher
>>> tel = RecordingPublisher("bot-1")
>>> with tel.cycle():
...     _ = tel.mark(symbol="BTC-USD", price=64000.0)
>>> [type(e).__name__ for e in tel.events]
['Mark', 'Cycle']
"""

from ._auth import NATS_ENV_PREFIX, NatsAuth, NatsAuthError, read_seed
from ._config import DEFAULT_URL, PublisherConfig, default_outbox_dir, server_urls
from ._emitter import BrokerCallScope, CycleScope, Emitter
from ._outbox import OutboxLockedError
from ._publisher import Publisher, PublisherClosedError
from ._recording import RecordingPublisher
from ._stats import PublisherStats
from ._streams import (
    MAX_PARTITIONS,
    MAX_REPLICAS,
    StreamLimitError,
    StreamLimits,
    apply_stream_limits,
    ensure_alerts_stream,
    ensure_events_stream,
    ensure_replicas,
    events_replicas,
    partition_transform,
    stream_partitions,
)
from ._sync import SyncPublisher

__all__ = [
    "DEFAULT_URL",
    "MAX_PARTITIONS",
    "MAX_REPLICAS",
    "NATS_ENV_PREFIX",
    "BrokerCallScope",
    "CycleScope",
    "Emitter",
    "NatsAuth",
    "NatsAuthError",
    "OutboxLockedError",
    "Publisher",
    "PublisherClosedError",
    "PublisherConfig",
    "PublisherStats",
    "RecordingPublisher",
    "StreamLimitError",
    "StreamLimits",
    "SyncPublisher",
    "apply_stream_limits",
    "default_outbox_dir",
    "ensure_alerts_stream",
    "ensure_events_stream",
    "ensure_replicas",
    "events_replicas",
    "partition_transform",
    "read_seed",
    "server_urls",
    "stream_partitions",
]
