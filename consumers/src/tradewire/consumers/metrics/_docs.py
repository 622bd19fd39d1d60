"""``docs/metrics.md``: the catalog and every profile's table, generated (a test keeps it)."""

from __future__ import annotations

from collections.abc import Iterable

from tradewire.consumers.alerts import AlertsConfig, AlertsService
from tradewire.consumers.runtime import Family, PipelineMetrics, Registry
from tradewire.consumers.store import StoreConfig, StoreService

from ._catalog import CATALOG, Spec
from ._profiles import SEED_PROFILES, Exposure, Profile

__all__ = ["metrics_markdown"]

_SPECS = {s.name: s for s in CATALOG}
# The job names the seeds' `up{job=...}` rules expect, and the profile each scrapes.
SCRAPE_JOBS = (
    ("tradewire", "tradewire"),
    ("gpt-trader", "gpt_trader"),
    ("coinbase-trader-exporter", "coinbase_trader"),
    ("traderagent-bot", "traderagent"),
)

# Names the seeds document that belong to other exporters, or to no running system.
LEFT_OUT = [
    (
        "TRADERAGENT `monitoring/prometheus/alerts.yml` (HighMemoryUsage, HighCPUUsage, "
        "DiskSpaceLow)",
        "`node_memory_MemTotal_bytes`, `node_memory_MemAvailable_bytes`, "
        "`node_cpu_seconds_total`, `node_filesystem_avail_bytes`, `node_filesystem_size_bytes`",
        "node exporter (the host); the bot's own process is in `process_*` and `disk_used_*`",
    ),
    (
        "TRADERAGENT alerts (HighDatabaseConnections), README database dashboard",
        "`pg_stat_database_numbackends` and the postgres exporter's metrics",
        "postgres exporter",
    ),
    (
        "TRADERAGENT alerts (RedisHighMemory), README Redis dashboard",
        "`redis_memory_used_bytes`, `redis_memory_max_bytes` and the redis exporter's metrics",
        "redis exporter",
    ),
    (
        "every seed's `*Down` rule",
        '`up{job="gpt-trader"}`, `up{job="coinbase-trader-exporter"}`, '
        '`up{job="traderagent-bot"}`, `up{job="postgres"}`, `up{job="redis"}`',
        "Prometheus itself, per scrape job; name the metrics service's jobs as the rules "
        "expect (below) and these rules watch it",
    ),
    (
        "GPT-Trader `deploy/gpt_trader/docker/grafana/dashboards/system_overview.json`",
        "`postgres_*`, `datafeed_*`, `datasource_status`, `redis_cache_hit_rate`, "
        "`ml_model_accuracy`, `process_resident_memory_bytes`, `errors_total`",
        "services GPT-Trader no longer has (its catalog notes the bot does not produce them)",
    ),
    (
        "seed 003 (GPT-Trader's retired ML playbook; `condition:` pseudo-rules, no prefix)",
        "`model_accuracy`, `model_error_rate`, `prediction_latency`, "
        "`prediction_confidence`, `feature_importance_stability`",
        "a model pipeline the bot no longer has; a bot that has one sends them as custom metrics",
    ),
    (
        "seed 003",
        "`portfolio_value`, `portfolio_drawdown` / `current_drawdown`, `win_rate`, "
        "`api_latency`, `api_error_rate`, `cpu_usage`, `memory_usage`",
        "unprefixed names; the same numbers are `equity_dollars`, `drawdown_pct` / 100, "
        "`win_rate`, `broker_call_latency_seconds`, `api_error_ratio`, "
        "`process_cpu_percent`, `process_memory_percent`",
    ),
    (
        "seed 003",
        "`sharpe_ratio`, `daily_returns`, `var_95`, `position_concentration`, "
        "`database_connections`",
        "no event carries them; the daily report has Sharpe (`tradewire report daily`)",
    ),
]

DEPARTURES = [
    "- `ws_reconnect_count` and `ws_gap_count` are `ws_reconnects` and `ws_gaps` in",
    "  tradewire's profile (promtool refuses a `_count` suffix on a gauge); the `gpt_trader`",
    "  profile keeps GPT-Trader's names.",
    "- Every series has a `bot` label: one service serves a fleet. The seeds' queries",
    "  (`sum(...)`, `increase(...)`, ratios of two names) work unchanged with it.",
    "- `circuit_breaker_state` has only the `bot` label (our risk events carry one",
    "  breaker per bot, not GPT-Trader's one per API category).",
    "- `order_submission_total` counts one outcome per order id (`accepted` then",
    "  `filled` is one success); `submitted` events go to `orders_submitted_total`.",
    "- GPT-Trader's exporter writes `symbol` label values with `-` replaced by `_`",
    "  (`BTC_USD`); tradewire keeps the bot's symbol (`BTC-USD`).",
    "- TRADERAGENT's exporter puts the current price in `traderagent_portfolio_value` and",
    "  the risk drawdown in `traderagent_pnl_unrealized`; tradewire serves what the names",
    "  say (equity, unrealized PnL).",
    "- Counters the seeds name without `_total` (`bot_total_trades`, `bot_winning_trades`,",
    "  `traderagent_total_trades`, the exporter's `network_*_megabytes`) keep their",
    "  names and type `counter` in the text format; in OpenMetrics they are `unknown`.",
    "- `*_megabytes`, `*_gigabytes` and `process_memory_mb` use binary units (2^20 and",
    "  2^30 bytes), as psutil's figures in GPT-Trader do.",
]


def _labels(spec: Spec, e: Exposure | None = None) -> str:
    labels = spec.labels if e is None or e.keep is None else e.keep
    return ", ".join(labels) or "(none)"


def _conversion(e: Exposure) -> str:
    parts = []
    if e.scale != 1.0:
        factor = {1000.0: "x 1000", 100.0: "x 100", 1 / 2**20: "/ 2^20", 1 / 2**30: "/ 2^30"}
        parts.append(factor.get(e.scale, f"x {e.scale:g}"))
    for label, values in e.where:
        parts.append(f"{label} = {' or '.join(values)}")
    if e.keep is not None and len(e.keep) < len(_SPECS[e.family].labels):
        parts.append("summed over the other labels")
    return f" ({'; '.join(parts)})" if parts else ""


def _profile_table(p: Profile) -> list[str]:
    lines = [
        f"## Profile `{p.name}`: {p.summary}",
        "",
        "| name | type | labels | from | source event and field | documented in |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for e in p.exposures:
        s = _SPECS[e.family]
        lines.append(
            f"| `{e.name}` | {s.kind} | {_labels(s, e)} | `{s.name}`{_conversion(e)} "
            f"| {s.source} | {e.seed} |"
        )
    for c in p.customs:
        lines.append(
            f"| `{c.name}` | {c.kind} | bot, the event's | custom metric | "
            f"`metric` event with name `{c.metric}` | {c.seed} |"
        )
    return [*lines, ""]


def metrics_markdown() -> str:
    seed_names = sum(len(p.exposures) + len(p.customs) for p in SEED_PROFILES)
    lines = [
        "# Metrics",
        "",
        "Generated from `tradewire.consumers.metrics` (a test fails when this page drifts).",
        "",
        "The metrics service keeps one aggregation and shows it under naming *profiles*, as",
        "many at once as configured (`profiles`, `--profiles`, `TRADEWIRE_METRICS_PROFILES`;",
        "default `tradewire`; `all` for every one): tradewire's own names (prefix",
        "`--metric-prefix`, default `tradewire`), and the names the seed bots' dashboards and",
        "alert rules query, units converted: `gpt_trader` (GPT-Trader in-process),",
        "`coinbase_trader` (GPT-Trader's exporter script and its Grafana dashboard) and",
        "`traderagent` (also accepted as `bot`): TRADERAGENT's README and alert rules name",
        "`bot_*`, its exporter code and Grafana dashboard `traderagent_*`, and one profile",
        f"serves both. {seed_names} seed names in all. A seed dashboard or rule file works",
        "unchanged against its profile (`tests/metrics/test_conformance.py` proves it with",
        "Prometheus). Each profile adds its share to every scrape; benchmarks/README.md has",
        "the cost.",
        "",
        "Every series has a `bot` label unless the table shows none. Ages are computed when",
        "`/metrics` is scraped, so they grow while a bot is silent (and are never negative).",
        "Histogram buckets (seconds): 0.001 ... 10 as in GPT-Trader;",
        "`pipeline_event_latency_seconds` uses 0.005 ... 60 and `ws_heartbeat_lag_seconds`",
        "GPT-Trader's 0.01 ... 300.",
        "",
        "## Catalog (profile `tradewire`)",
        "",
        "| name | type | labels | meaning | source event and field |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in CATALOG:
        name = f"`tradewire_{s.name}`" if s.tradewire else f"`{s.name}` (seed profiles only)"
        lines.append(f"| {name} | {s.kind} | {_labels(s)} | {s.help} | {s.source} |")
    lines += [
        "",
        "`api_latency_seconds` is not in tradewire's own profile: `broker_call_latency_seconds`",
        "has the same observations by operation, and a second histogram per bot would",
        "cost every scrape; the `gpt_trader` and `bot` profiles show it.",
        "",
        "## Custom metrics",
        "",
        "A bot's own numbers (grid levels, DCA steps, cache sizes) come as `metric` events",
        "(`tel.metric(name=..., value=..., type=gauge|counter|histogram, labels={...})`,",
        "up to 8 labels). Each profile shows them under its prefix: `tradewire_custom_<name>`",
        "(counters get `_total` when they lack it), `gpt_trader_<name>`, `coinbase_trader_<name>`,",
        "`bot_<name>` and `traderagent_<name>`, with the `bot` label and the event's labels.",
        "A gauge keeps the latest value, a counter adds each event's value, a histogram",
        "observes it (GPT-Trader's buckets). The first event fixes a name's type;",
        "events are refused, and counted in `custom_metrics_refused_total{bot,reason}`, when",
        "the type differs (`type_conflict`), when a seed profile shows a catalog row under",
        "the name (`reserved_name`, e.g. `equity`), when tradewire's name for it is taken",
        "(`name_conflict`), past `max_custom_metrics` names (`too_many_names`, 500) or past",
        "`max_label_values` label sets per bot and name (`too_many_series`). Label values",
        "are capped like every other label. The seed names that come this way are listed",
        'in the profile tables below as "custom metric".',
        "",
    ]
    for p in SEED_PROFILES:
        lines += _profile_table(p)
    lines += [
        "## Left out",
        "",
        "| where the seed names them | names | why |",
        "| --- | --- | --- |",
        *(f"| {w} | {n} | {why} |" for w, n, why in LEFT_OUT),
        "",
        "## Departures from the seeds",
        "",
        *DEPARTURES,
        "",
        "## Scraping for the seeds' dashboards and rules",
        "",
        "One service with `--profiles all`; `/metrics/<profile>` serves one profile's",
        "names. One scrape job per seed, named as its rules expect, so `up{job=...}` rules",
        "watch the service and no series is stored twice:",
        "",
        "```yaml",
        "scrape_configs:",
        *(
            f"  - {{job_name: {job}, metrics_path: /metrics/{path}, "
            "static_configs: [{targets: ['metrics-host:8202']}]}"
            for job, path in SCRAPE_JOBS
        ),
        "```",
        "",
        "## Unfilled and open orders",
        "",
        "`unfilled_orders_total` counts each order once, whichever comes first: the bot's",
        "own `unfilled_order` event, or the order still open (submitted, accepted or",
        "partially filled, by `order_id`, else `client_order_id`) `unfilled_order_after_s`",
        "(300 s, GPT-Trader's default) after this service first saw it; the check runs on",
        "every batch and every scrape. `open_orders` is the bot's own count from its latest",
        "account snapshot (`open_orders`) when it sends one, else the orders this service",
        "saw open (at most 10,000 tracked per bot).",
        "",
        "## Bounds",
        "",
        "Label values from bots (symbol, reason, guard, category, operation, endpoint, gate,",
        "strategy, interval, issue_type, component, error_type, tier, custom labels) are",
        "capped per bot and label name (`max_label_values`, default 100); further values",
        "become `other` and are counted in `pipeline_label_overflow_total{bot,label}`. At",
        "most `max_bots` (5000) bots are tracked; events of further bots are counted in",
        '`pipeline_quarantined_total{reason="too_many_bots"}`. `pipeline_lost_events` is',
        "capped at 2^53, whatever `seq` a bot sends.",
        "",
        "Events stamped more than `max_future_s` (300 s) after JetStream received them are",
        'refused like the store refuses them (`pipeline_quarantined_total{reason="clock_skew"}`).',
        "An accepted event's `ts` counts for the ages and `bot_up` only up to when it was",
        "aggregated: a bot clock ahead of ours can neither keep a bot up after it stopped",
        "nor make an age negative. An event whose aggregation raises (a bug) is logged and",
        'counted as `reason="aggregation_failed"`; the rest of its batch is aggregated, and',
        "a metric family that fails to render is left out of that scrape, not the scrape.",
        "",
        "## Retired bots",
        "",
        "`tradewire bots retire BOT` drops every series of the bot from `/metrics` (and",
        "`/metrics.json`) and ignores its events from before the retirement (late",
        "deliveries, imports); an event from after it brings the bot back. The service",
        "follows the fleet bucket (`<root>_fleet`) with a KV watch.",
        "",
        "## Restarts",
        "",
        "Counters and histograms start at zero when the service starts (Prometheus's",
        "`rate()` and `increase()` handle the reset). A new durable consumer starts at the",
        "end of the stream, so history is never replayed into counters; a restarted one",
        "resumes after its last ack, so events published while it was down are counted",
        "once. Gauges (equity, risk, ws, data quality, process vitals, the last cycle and",
        "trade times, custom gauges, the ages) are seeded at start from the stream's last",
        "message per subject. Redeliveries are recognized by event id (the last 500,000) and",
        "counted in `pipeline_duplicates_total` instead.",
        "",
        "## Endpoints and health",
        "",
        "`tradewire serve metrics` (port 8202 by default) serves `/metrics` (Prometheus text,",
        "or OpenMetrics when the scraper's Accept header asks for it; every configured",
        "profile), `/metrics.json` (every value under tradewire's names, custom metrics,",
        "and each bot's `latest_order_preview` and `latest_account_snapshot`), the fleet",
        "console at `/` with its data under `/api/` ([console.md](console.md)), and `/live`,",
        "`/ready`, `/health`. `/health` adds the seed playbook's `signals` block, computed",
        "fleet-wide over `signal_window_s` (300 s) with thresholds from the config",
        "(warn / crit): `order_error_rate` (rejected or failed outcomes / all, 0.05 / 0.15),",
        "`order_retry_rate` (outcomes with retries / all, 0.10 / 0.25), `broker_latency_p95`",
        "(submit calls, ms, 1000 / 3000) and `guard_trip_count` (trips, 3 / 10). A CRIT",
        "signal makes `/health` unhealthy (503), a WARN one degraded (200). `/ready`,",
        "`/live`, NATS loss, signals and a failed task behave as in every service",
        "([architecture.md](architecture.md#services-health-nats-loss-signals)).",
        "`/metrics/<profile>` serves one configured profile alone. `/metrics` answers gzip",
        "when the scraper's `Accept-Encoding` allows (Prometheus's does).",
        "",
        "A scrape copies the values on the event loop and formats and compresses them in a",
        "worker thread, so a large fleet's scrape does not hold up pulling, folding and",
        "acking for the whole render",
        "([benchmarks/README.md](../benchmarks/README.md), `metrics_scrape.py`).",
        *_service_sections(),
    ]
    return "\n".join(lines) + "\n"


_HEAD = ["| name | type | labels | meaning | source |", "| --- | --- | --- | --- | --- |"]


def _rows(families: Iterable[Family]) -> list[str]:
    return [
        f"| `tradewire_{f.name}` | {f.kind} | {', '.join(f.labels) or '(none)'} | {f.help} "
        f"| {f.source} |"
        for f in families
    ]


def _service_sections() -> list[str]:
    """Every service's own pipeline series, and the store's and alerts service's own."""
    runtime = Registry("tradewire")
    PipelineMetrics(runtime, ready=lambda: False)

    def own(registry: Registry) -> list[Family]:
        return [f for name, f in registry.families.items() if name not in runtime.families]

    store = own(StoreService(StoreConfig()).registry)
    alerts = own(AlertsService(AlertsConfig()).registry)
    return [
        "",
        "## Every service's own pipeline metrics",
        "",
        "Each service, the store (port 8201), the metrics service (8202) and the alerts",
        "service (8203), serves its own `/metrics` with these series (the metrics service",
        "adds them to the fleet's, under tradewire's prefix). `consumer` is the durable",
        "consumer's name: the store runs two, on the events and the alerts stream.",
        "",
        *_HEAD,
        *_rows(runtime.families.values()),
        "",
        "Batch buckets (seconds): 0.001 ... 30. `pipeline_ready` and",
        "`pipeline_nats_connected` turn 0 while NATS is away; a growing",
        "`pipeline_redelivered_total` means work is not acked within `ack_wait_s`.",
        "",
        "## The store's own",
        "",
        *_HEAD,
        *_rows(store),
        "",
        "Write buckets (seconds): 0.005 ... 30.",
        "",
        "## The alerts service's own",
        "",
        "Every configured receiver has its series from the start (0 until it is used).",
        "",
        *_HEAD,
        *_rows(alerts),
    ]
