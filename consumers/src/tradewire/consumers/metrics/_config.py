"""Metrics service settings (defaults < ``[metrics]`` in TOML < ``TRADEWIRE_*`` env < flags)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tradewire.consumers.runtime import ServiceSettings, load_config
from tradewire.schemas import DEFAULT_MAX_FUTURE_S, DEFAULT_ROOT, Subjects

from ._profiles import Profile, resolve_profiles

__all__ = ["MetricsConfig", "load_metrics_config"]


class MetricsConfig(ServiceSettings, forbid_unknown_fields=True, kw_only=True):
    nats_url: str = ""
    root: str = DEFAULT_ROOT
    durable: str = ""  # default: <root>-metrics (-p<partition>of<partitions> for several)
    http_host: str = "127.0.0.1"
    http_port: int = 8202
    metric_prefix: str = "tradewire"  # the prefix of the tradewire profile's names
    # Naming sets exposed at once: tradewire, gpt_trader, coinbase_trader, bot,
    # traderagent, or all; a list, or one string separated by commas (env vars, flags).
    profiles: str | list[str] = "tradewire"
    alerts_bucket: str = ""  # where the alerts service keeps what fires; default <root>_alerts
    max_batch: int = 5000
    max_wait_s: float = 0.05  # metrics should move within a scrape, not a second
    ack_wait_s: float = 10.0
    max_label_values: int = 100
    max_bots: int = 5000
    bot_down_after_s: float = 120.0
    ws_stale_after_s: float = 60.0
    ws_heartbeat_stale_after_s: float = 30.0
    unfilled_order_after_s: float = 300.0  # an order open this long counts as unfilled
    signal_window_s: float = 300.0
    # Events stamped further than this after JetStream received them are refused
    # (counted as quarantined, reason clock_skew), as the store does.
    max_future_s: float = DEFAULT_MAX_FUTURE_S
    order_error_rate_warn: float = 0.05
    order_error_rate_crit: float = 0.15
    order_retry_rate_warn: float = 0.10
    order_retry_rate_crit: float = 0.25
    broker_latency_p95_ms_warn: float = 1000.0
    broker_latency_p95_ms_crit: float = 3000.0
    guard_trip_count_warn: float = 3.0
    guard_trip_count_crit: float = 10.0
    # The console at `/` (docs/console.md): silencing from the page (it writes to the
    # alerts bucket with this service's NATS connection), the reports directory it
    # serves read-only (empty: none), and each bot's chart history (points x step_s).
    console_silences: bool = True
    reports_dir: str = ""
    console_history_points: int = 120
    console_history_step_s: float = 5.0

    def __post_init__(self) -> None:
        import re  # noqa: PLC0415

        subjects = Subjects(self.root)  # raises on a bad root
        self.durable = (self.durable or subjects.durable("metrics")) + self.instance().suffix()
        self.alerts_bucket = self.alerts_bucket or subjects.alerts_bucket

        checks = {
            "http_port": 0 <= self.http_port <= 65535,
            "metric_prefix": re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*|", self.metric_prefix)
            is not None,
            "max_batch": 1 <= self.max_batch <= 100_000,
            "max_wait_s": 0 < self.max_wait_s < self.ack_wait_s,
            "max_label_values": self.max_label_values >= 1,
            "max_bots": self.max_bots >= 1,
            "signal_window_s": self.signal_window_s > 0,
            "unfilled_order_after_s": self.unfilled_order_after_s > 0,
            "ws_heartbeat_stale_after_s": self.ws_heartbeat_stale_after_s > 0,
            "max_future_s": self.max_future_s > 0,
            "console_history_points": 2 <= self.console_history_points <= 10_000,
            "console_history_step_s": 0.1 <= self.console_history_step_s <= 3600,
        }
        for name in (
            "order_error_rate",
            "order_retry_rate",
            "broker_latency_p95_ms",
            "guard_trip_count",
        ):
            checks[f"{name}_warn/_crit"] = (
                0 <= getattr(self, f"{name}_warn") <= getattr(self, f"{name}_crit")
            )
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"out of range: {', '.join(bad)}")
        self.profile_set()  # raises on an unknown profile or a name two would expose

    def profile_names(self) -> list[str]:
        names = self.profiles.split(",") if isinstance(self.profiles, str) else self.profiles
        return [n.strip() for n in names if n.strip()]

    def profile_set(self) -> list[Profile]:
        try:
            return resolve_profiles(self.profile_names(), self.metric_prefix)
        except ValueError as exc:
            raise ValueError(f"profiles: {exc}") from None

    def thresholds(self) -> dict[str, tuple[float, float]]:
        names = (
            "order_error_rate",
            "order_retry_rate",
            "broker_latency_p95_ms",
            "guard_trip_count",
        )
        return {n: (getattr(self, f"{n}_warn"), getattr(self, f"{n}_crit")) for n in names}


def load_metrics_config(
    path: Path | None, flags: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> MetricsConfig:
    return load_config(MetricsConfig, "metrics", path, flags, env)
