"""Store settings from defaults, a TOML file, ``TRADEWIRE_*`` env vars and flags, in that order."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tradewire.consumers.runtime import ConfigError, ServiceSettings, load_config
from tradewire.publisher import StreamLimits
from tradewire.schemas import DEFAULT_MAX_FUTURE_S, DEFAULT_MAX_SIZE, DEFAULT_ROOT, Subjects

__all__ = ["ConfigError", "StoreConfig", "load_store_config"]


class StoreConfig(ServiceSettings, forbid_unknown_fields=True, kw_only=True):
    nats_url: str = ""
    root: str = DEFAULT_ROOT
    # Default: tradewire.duckdb; tradewire-p<partition>of<partitions>.duckdb when several
    # stores share the fleet (each writes its own file).
    db: str = ""
    # Default: <root>-store; each of several instances adds -p<partition>of<partitions>.
    durable: str = ""
    alerts_durable: str = ""  # the alerts stream's consumer; default: <root>-store-alerts
    http_host: str = "127.0.0.1"
    http_port: int = 8201
    # Big batches amortize DuckDB's per-transaction cost (5k: ~33k ev/s, 20k: ~50k ev/s
    # here); max_wait_s still bounds how long a quiet fleet's events wait.
    max_batch: int = 20_000
    max_wait_s: float = 0.5
    max_deliveries: int = 5  # a batch failing this often is quarantined message by message
    # Batches commit in well under a second; a short ack wait means a restarted store
    # gets back what a crashed one held (unacked) within seconds.
    ack_wait_s: float = 10.0
    max_event_size: int = DEFAULT_MAX_SIZE
    # An event whose ts is further than this after JetStream received it is quarantined
    # as clock_skew (a clock far ahead, a ts in milliseconds); the past is not bounded.
    max_future_s: float = DEFAULT_MAX_FUTURE_S
    sql_row_limit: int = 10_000
    sql_timeout_s: float = 30.0
    # Refuse SQL requests that are not signed by the caller's nkey (docs/security.md);
    # every request is in the audit log either way.
    sql_require_signed: bool = False
    # Log the server's JetStream API audit advisories (stream, consumer and bucket
    # changes, with who made them) to the audit log.
    audit_jetstream: bool = True
    # The events stream's limits, set by the store at start (it owns them). Unset: a
    # missing stream is created with the defaults (7 days, 10 GiB, 2 min) and an existing
    # one is left alone. Lowering a limit is refused (`tradewire stream set --allow-shrink`).
    stream_max_age_s: float | None = None
    stream_max_bytes: int | None = None
    duplicate_window_s: float | None = None
    # On a clustered JetStream: copies of each message of the events and alerts streams
    # (3: one node may die). Unset: left as they are (a new stream gets 1).
    stream_replicas: int | None = None
    # Split the events stream by bot into this many partitions (2-1024, fixed once set),
    # so several instances of each service can share the fleet (docs/scaling.md).
    stream_partitions: int | None = None
    lag_warn: int = 100_000  # /health turns degraded when the consumer is this far behind

    def __post_init__(self) -> None:
        subjects = Subjects(self.root)  # raises on a bad root
        self.stream_limits()  # raises on a limit that is not > 0
        suffix = self.instance().suffix()  # raises on a partition out of range
        self.db = self.db or f"tradewire{suffix}.duckdb"
        self.durable = (self.durable or subjects.durable("store")) + suffix
        self.alerts_durable = (self.alerts_durable or subjects.durable("store-alerts")) + suffix
        checks = {
            "http_port": 0 <= self.http_port <= 65535,
            "max_batch": 1 <= self.max_batch <= 100_000,
            "max_wait_s": 0 < self.max_wait_s < self.ack_wait_s,
            "max_deliveries": self.max_deliveries >= 1,
            "sql_row_limit": 1 <= self.sql_row_limit <= 100_000,
            "sql_timeout_s": self.sql_timeout_s > 0,
            "max_event_size": 256 <= self.max_event_size <= 1 << 20,
            "max_future_s": self.max_future_s > 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"out of range: {', '.join(bad)}")

    def stream_limits(self) -> StreamLimits:
        return StreamLimits(
            max_age_s=self.stream_max_age_s,
            max_bytes=self.stream_max_bytes,
            duplicate_window_s=self.duplicate_window_s,
            replicas=self.stream_replicas,
            partitions=self.stream_partitions,
        )


def load_store_config(
    path: Path | None, flags: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> StoreConfig:
    """Store settings: defaults < ``[store]`` in the TOML file < env < flags."""
    return load_config(StoreConfig, "store", path, flags, env)
