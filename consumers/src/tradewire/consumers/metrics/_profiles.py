"""Naming profiles: maps from the catalog to the names each seed's dashboards and rules use.

One aggregation is exposed under several naming sets at once. A profile is a table of
``Exposure`` rows: the name, the catalog family it shows, a unit conversion
(``scale``: ratio to percent, seconds to milliseconds, bytes to megabytes), and
optionally which label values it selects (``where``) and which labels it keeps
(``keep``; the others are summed away). Custom metrics (the bots' ``metric`` events)
appear in every profile under each of its prefixes.

- ``tradewire``: tradewire's own names, every catalog row (prefix ``--metric-prefix``).
- ``gpt_trader``: GPT-Trader's in-process catalog (its health server's ``/metrics``)
  and its current playbook's alert rules.
- ``coinbase_trader``: GPT-Trader's exporter script, its Grafana dashboard, example
  alert rules and older playbooks.
- ``traderagent`` (also ``bot``): TRADERAGENT. Its README and alert rules say ``bot_*``,
  its exporter code and Grafana dashboard ``traderagent_*``; one profile serves both,
  so one scrape job makes both its dashboard and its rules work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ._catalog import CATALOG
from ._families import Kind, Labels

__all__ = [
    "ALIASES",
    "PROFILES",
    "PROFILE_NAMES",
    "SEED_PROFILES",
    "CustomName",
    "Exposure",
    "Profile",
    "custom_name_is_reserved",
    "exposed_names",
    "reserved_custom_names",
    "resolve_profiles",
    "tradewire_profile",
]

_SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")

# Where each seed names its metrics (repository, path, commit).
GPT_CATALOG = "GPT-Trader `var/agents/observability/metrics_catalog.md` @826e5061"
GPT_EXPORTER = "GPT-Trader `scripts/monitoring/export_metrics.py` @826e5061"
GPT_PLAYBOOK = "GPT-Trader playbook before 2026-01-09 (seeds 000, 002)"
GPT_RULES = "GPT-Trader `scripts/monitoring/prometheus-alerts.yml.example` @aaf565ea"
TA_README = "TRADERAGENT `monitoring/README.md` @ea5f658 (seed 004)"
TA_ALERTS = "TRADERAGENT `monitoring/prometheus/alerts.yml` @ea5f658"
TA_EXPORTER = "TRADERAGENT `bot/monitoring/metrics_exporter.py` @ea5f658"


@dataclass(frozen=True)
class Exposure:
    name: str  # the full name
    family: str  # the catalog row
    seed: str = ""  # where the seed documents the name
    scale: float = 1.0  # unit conversion, applied to gauge and counter values
    keep: Labels | None = None  # label names kept; None keeps all
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()  # label -> accepted values


@dataclass(frozen=True)
class CustomName:
    """A seed name that a bot sends as a custom metric (``metric`` event ``name``)."""

    name: str  # the full name
    metric: str  # the event's name
    kind: Kind
    seed: str


@dataclass(frozen=True)
class Profile:
    name: str
    exposures: tuple[Exposure, ...]
    custom_prefixes: tuple[str, ...]  # a custom metric x shows as <prefix>_x for each
    customs: tuple[CustomName, ...] = ()
    summary: str = ""
    custom_counter_total: bool = False  # append _total to a custom counter lacking it

    def custom_names(self, name: str, kind: Kind) -> list[str]:
        if self.custom_counter_total and kind == "counter" and not name.endswith("_total"):
            name += "_total"
        return [f"{p}_{name}" if p else name for p in self.custom_prefixes]


def _rows(prefix: str) -> Callable[..., Exposure]:
    """Rows of a seed profile: ``E("equity", "equity_dollars")`` is ``<prefix>_equity``."""

    def make(
        name: str,
        family: str = "",
        seed: str = "",
        *,
        scale: float = 1.0,
        keep: Labels | None = None,
        where: dict[str, tuple[str, ...]] | None = None,
    ) -> Exposure:
        full = f"{prefix}_{name}"
        return Exposure(full, family or name, seed, scale, keep, tuple((where or {}).items()))

    return make


def _customs(prefix: str, seed: str, *items: tuple[str, Kind]) -> tuple[CustomName, ...]:
    return tuple(CustomName(f"{prefix}_{n}", n, kind, seed) for n, kind in items)


_MB = 1 / 2**20  # GPT-Trader's "MB" and "GB" are psutil's binary units
_GB = 1 / 2**30
_FAILED = {"result": ("failure",)}

G = _rows("gpt_trader")
GPT_TRADER = Profile(
    "gpt_trader",
    (
        G("api_error_rate", "api_error_ratio", GPT_CATALOG),
        G("api_latency_seconds", "", GPT_CATALOG, keep=("bot", "category", "result")),
        G("api_requests_total", "", GPT_CATALOG, keep=("bot", "category", "result")),
        G("api_retries_total", "", GPT_CATALOG),
        G("broker_call_latency_seconds", "", GPT_CATALOG),
        G("circuit_breaker_state", "", GPT_CATALOG),
        G("cycle_duration_seconds", "", GPT_CATALOG),
        G("data_quality_issues", "", GPT_CATALOG),
        G("data_quality_issues_total", "", GPT_CATALOG),
        G("data_quality_score", "", GPT_CATALOG),
        G("equity_dollars", "", GPT_CATALOG),
        G("guard_checks_total", "", GPT_CATALOG),
        G("guard_trips_total", "", GPT_CATALOG),
        G("order_missing_decision_id_total", "", GPT_CATALOG),
        G("order_submission_latency_seconds", "", GPT_CATALOG),
        G("order_submission_total", "", GPT_CATALOG),
        G("process_memory_mb", "process_memory_rss_bytes", GPT_CATALOG, scale=_MB),
        G("rate_limit_usage_ratio", "", GPT_CATALOG),
        G(
            "ticker_freshness_checks_total",
            "guard_checks_total",
            GPT_CATALOG,
            keep=("bot", "result"),
            where={"guard": ("ticker_freshness",)},
        ),
        G("ticker_stale_symbols_total", "stale_marks_total", GPT_CATALOG),
        G("trades_blocked_total", "", GPT_CATALOG),
        G("trades_executed_total", "", GPT_CATALOG),
        G(
            "validation_mark_staleness_check_failed_total",
            "guard_checks_total",
            GPT_CATALOG,
            keep=("bot",),
            where={"guard": ("mark_staleness",), **_FAILED},
        ),
        G(
            "validation_order_preview_failed_total",
            "order_previews_total",
            GPT_CATALOG,
            keep=("bot",),
            where=_FAILED,
        ),
        G(
            "validation_slippage_guard_check_failed_total",
            "guard_checks_total",
            GPT_CATALOG,
            keep=("bot",),
            where={"guard": ("slippage_guard",), **_FAILED},
        ),
        G("ws_connected", "", GPT_CATALOG),
        G("ws_gap_count", "ws_gaps", GPT_CATALOG),
        G("ws_heartbeat_lag_seconds", "", GPT_CATALOG),
        G("ws_heartbeat_stale", "", GPT_CATALOG),
        G("ws_last_close_age_seconds", "", GPT_CATALOG),
        G("ws_last_error_age_seconds", "", GPT_CATALOG),
        G("ws_last_heartbeat_age_seconds", "", GPT_CATALOG),
        G("ws_last_message_age_seconds", "", GPT_CATALOG),
        G("ws_message_stale", "", GPT_CATALOG),
        G("ws_reconnect_count", "ws_reconnects", GPT_CATALOG),
    ),
    ("gpt_trader",),
    _customs(
        "gpt_trader",
        GPT_CATALOG,
        ("deque_cache_fill_ratio", "gauge"),
        ("equity_computation_seconds", "histogram"),
        ("event_store_cache_size", "gauge"),
        ("positions_fetch_seconds", "histogram"),
        ("profile_duration_seconds", "histogram"),
        ("ticker_cache_unavailable_total", "counter"),
        ("validation_escalations_total", "counter"),
    ),
    "GPT-Trader in-process (its health server's `/metrics`) and its current playbook's rules",
)

C = _rows("coinbase_trader")
COINBASE_TRADER = Profile(
    "coinbase_trader",
    (
        C("metrics_timestamp_seconds", "last_cycle_timestamp_seconds", GPT_EXPORTER),
        C("equity", "equity_dollars", GPT_EXPORTER),
        C("open_orders", "", GPT_EXPORTER),
        C("cpu_percent", "process_cpu_percent", GPT_EXPORTER),
        C("memory_percent", "process_memory_percent", GPT_EXPORTER),
        C("disk_percent", "disk_used_percent", GPT_EXPORTER),
        C("disk_used_gigabytes", "disk_used_bytes", GPT_EXPORTER, scale=_GB),
        C("network_sent_megabytes", "network_sent_bytes_total", GPT_EXPORTER, scale=_MB),
        C("network_received_megabytes", "network_received_bytes_total", GPT_EXPORTER, scale=_MB),
        C("fee_tier", "", GPT_EXPORTER),
        C("account_limit_remaining", "account_limit_remaining_usd", GPT_EXPORTER),
        C(
            "order_preview_failures_total",
            "order_previews_total",
            GPT_EXPORTER,
            keep=("bot",),
            where=_FAILED,
        ),
        C("trades_executed_total", "", GPT_EXPORTER),
        C("trades_blocked_total", "", GPT_EXPORTER),
        C("circuit_breaker_triggered", "", GPT_EXPORTER),
        C("cycle_latency_ms", "last_cycle_duration_seconds", GPT_EXPORTER, scale=1000.0),
        C("symbol_exposure_usd", "", GPT_EXPORTER),
        C("symbol_pnl_usd", "", GPT_EXPORTER),
        C("total_pnl_usd", "", GPT_EXPORTER),
        C("realized_pnl_usd", "", GPT_EXPORTER),
        C("unrealized_pnl_usd", "", GPT_EXPORTER),
        C("funding_pnl_usd", "", GPT_EXPORTER),
        C("websocket_reconnects_total", "", GPT_EXPORTER),
        C("stale_marks_total", "", GPT_EXPORTER),
        C("unfilled_orders_total", "", GPT_EXPORTER),
        C("cycle_duration_seconds", "", GPT_PLAYBOOK),
        C("cycle_errors_total", "", GPT_PLAYBOOK),
        C("orders_submitted_total", "", GPT_PLAYBOOK),
        C("risk_daily_loss", "", GPT_PLAYBOOK),
        C("risk_daily_loss_limit", "", GPT_PLAYBOOK),
        C("market_data_staleness_seconds", "", GPT_PLAYBOOK),
        C("telemetry_account_age_seconds", "", GPT_PLAYBOOK),
        C(
            "order_tooling_errors_total",
            "errors_total",
            "GPT-Trader playbook (seed 000)",
            keep=("bot",),
            where={"component": ("order_tooling",)},
        ),
    ),
    ("coinbase_trader",),
    summary="GPT-Trader's exporter script, its Grafana dashboard, example rules and "
    "pre-2026 playbooks",
)

B = _rows("bot")
T = _rows("traderagent")
TRADERAGENT = Profile(
    "traderagent",
    (
        B("portfolio_value_usdt", "equity_dollars", TA_README),
        B("portfolio_return_percent", "portfolio_return_ratio", TA_README, scale=100.0),
        B("portfolio_drawdown_percent", "drawdown_pct", TA_README),
        B("total_trades", "fills_total", TA_README, keep=("bot",)),
        B("winning_trades", "winning_trades_total", TA_README),
        B("losing_trades", "losing_trades_total", TA_README),
        B("win_rate_percent", "win_rate", TA_README, scale=100.0),
        B("open_orders", "", TA_README),
        B("total_orders_total", "orders_submitted_total", TA_README),
        B(
            "failed_orders_total",
            "order_submission_total",
            TA_README,
            keep=("bot",),
            where={"result": ("rejected", "failed")},
        ),
        B("canceled_orders_total", "orders_cancelled_total", TA_README),
        B("api_requests_total", "", TA_README, keep=("bot", "endpoint")),
        B(
            "api_request_duration_seconds",
            "api_latency_seconds",
            TA_README,
            keep=("bot", "endpoint"),
        ),
        B(
            "api_errors_total",
            "api_requests_total",
            TA_README,
            keep=("bot", "endpoint"),
            where={"result": ("error",)},
        ),
        B("api_rate_limit_remaining", "rate_limit_remaining", TA_README),
        B("position_size_base", "position_size", TA_README),
        B("position_size_quote", "symbol_exposure_usd", TA_README),
        B("uptime_seconds", "bot_uptime_seconds", TA_README),
        B("errors_total", "", TA_README),
        B("last_trade_timestamp", "last_trade_timestamp_seconds", TA_README),
        B("trades_total", "fills_total", TA_README),
        T("portfolio_value", "equity_dollars", TA_EXPORTER),
        T("active_deals", "open_positions", TA_EXPORTER),
        T("total_trades", "fills_total", TA_EXPORTER, keep=("bot", "strategy")),
        T("pnl_total", "realized_pnl_usd", TA_EXPORTER),
        T("pnl_unrealized", "unrealized_pnl_usd", TA_EXPORTER),
        T("api_latency_seconds", "last_api_latency_seconds", TA_EXPORTER),
        T("bot_uptime_seconds", "", TA_EXPORTER),
        T("strategy_active", "bot_running", TA_EXPORTER),
        T("health_status", "bot_healthy", TA_EXPORTER),
        T("grid_open_orders", "open_orders", TA_EXPORTER),
    ),
    ("bot", "traderagent"),
    (
        *_customs("bot", TA_README, ("grid_levels_active", "gauge"), ("dca_steps_active", "gauge")),
        *_customs(
            "traderagent",
            TA_EXPORTER,
            ("dca_safety_orders_filled", "counter"),
            ("regime_changes_total", "counter"),
        ),
    ),
    "TRADERAGENT: its README and alert rules (`bot_*`), its exporter code and Grafana "
    "dashboard (`traderagent_*`)",
)


def tradewire_profile(prefix: str = "tradewire") -> Profile:
    """Every catalog row under its own name (rows marked seed-only left out)."""
    p = f"{prefix}_" if prefix else ""
    return Profile(
        "tradewire",
        tuple(Exposure(p + s.name, s.name) for s in CATALOG if s.tradewire),
        (f"{p}custom",),
        summary="tradewire's own names",
        custom_counter_total=True,
    )


SEED_PROFILES: tuple[Profile, ...] = (GPT_TRADER, COINBASE_TRADER, TRADERAGENT)
PROFILES: dict[str, Profile] = {p.name: p for p in (tradewire_profile(), *SEED_PROFILES)}
ALIASES = {"bot": "traderagent"}  # the issue and the README call TRADERAGENT's set `bot`
PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)


def _forms(name: str) -> set[str]:
    """``name`` and what it may share a series name with (``x``, ``x_total``, ``x_count``)."""
    forms = {name, *(name + s for s in _SUFFIXES)}
    forms |= {name[: -len(s)] for s in _SUFFIXES if name.endswith(s)}
    return forms


def reserved_custom_names() -> frozenset[str]:
    """Custom metric names that would show as a seed profile's catalog name."""
    out: set[str] = set()
    for p in SEED_PROFILES:
        for e in p.exposures:
            for prefix in p.custom_prefixes:
                if e.name.startswith(prefix + "_"):
                    out.add(e.name[len(prefix) + 1 :])
    return frozenset(out)


def custom_name_is_reserved(name: str, reserved: frozenset[str]) -> bool:
    return not _forms(name).isdisjoint(reserved)


def exposed_names(profile: Profile) -> list[str]:
    return [e.name for e in profile.exposures]


def resolve_profiles(names: Sequence[str], metric_prefix: str = "tradewire") -> list[Profile]:
    """The profiles to expose, in the given order; ``all`` means every one.

    Raises ValueError for an unknown name, or when two profiles would expose one name
    (e.g. ``metric_prefix`` set to another profile's prefix).
    """
    wanted: list[str] = []
    for n in names:
        for m in PROFILE_NAMES if n == "all" else (ALIASES.get(n, n),):
            if m not in PROFILES:
                choices = ", ".join([*PROFILE_NAMES, *ALIASES, "all"])
                raise ValueError(f"unknown profile {m!r}: choose from {choices}")
            if m not in wanted:
                wanted.append(m)
    if not wanted:
        raise ValueError("no profile: name at least one of " + ", ".join(PROFILE_NAMES))
    chosen = [tradewire_profile(metric_prefix) if n == "tradewire" else PROFILES[n] for n in wanted]
    owners: dict[str, str] = {}  # every series name a profile renders -> the profile
    for p in chosen:
        for full in exposed_names(p):
            forms = _forms(full)
            clash = next((owners[f] for f in forms if owners.get(f, p.name) != p.name), None)
            if clash is not None:
                hint = " (change metric_prefix)" if "tradewire" in (clash, p.name) else ""
                raise ValueError(f"profiles {clash} and {p.name} both expose {full}{hint}")
            owners.update(dict.fromkeys(forms, p.name))
    return chosen
