"""``docs/metrics.md``: the metric catalog, generated from the aggregator (a test keeps it)."""

from __future__ import annotations

from collections.abc import Iterable

from tradewire.consumers.alerts import AlertsConfig, AlertsService
from tradewire.consumers.runtime import Family, PipelineMetrics, Registry
from tradewire.consumers.store import StoreConfig, StoreService

from ._aggregator import Aggregator

__all__ = ["metrics_markdown"]

_HEAD = ["| name | type | labels | meaning | source |", "| --- | --- | --- | --- | --- |"]


def _rows(families: Iterable[Family]) -> list[str]:
    return [
        f"| `tradewire_{f.name}` | {f.kind} | {', '.join(f.labels) or '(none)'} | {f.help} "
        f"| {f.source} |"
        for f in families
    ]


def metrics_markdown() -> str:
    agg = Aggregator("tradewire")
    runtime = Registry("tradewire")
    PipelineMetrics(runtime, ready=lambda: False)

    def own(registry: Registry) -> list[Family]:
        return [f for name, f in registry.families.items() if name not in runtime.families]

    store = own(StoreService(StoreConfig()).registry)
    alerts = own(AlertsService(AlertsConfig()).registry)
    lines = [
        "# Metrics",
        "",
        "Generated from `tradewire.consumers.metrics` (a test fails when this page drifts).",
        "Names carry the prefix `tradewire_` by default; `--metric-prefix gpt_trader` (or",
        "`TRADEWIRE_METRICS_METRIC_PREFIX`) gives GPT-Trader's names. Every series has a",
        "`bot` label unless the table shows none. Ages are computed when `/metrics` is",
        "scraped, so they grow while a bot is silent. Histogram buckets (seconds): 0.001 ...",
        "10 as in",
        "GPT-Trader; `pipeline_event_latency_seconds` uses 0.005 ... 60.",
        "",
        *_HEAD,
        *_rows(agg.registry.families.values()),
        "",
        "## Every service's own pipeline metrics",
        "",
        "Each service, the store (port 8201), the metrics service (8202) and the alerts",
        "service (8203), serves its own `/metrics` with these series (the metrics service",
        "adds them to the fleet's, under the same prefix). `consumer` is the durable",
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
    lines += [
        "",
        "## Departures from the GPT-Trader catalog",
        "",
        "- `ws_reconnect_count` and `ws_gap_count` are `ws_reconnects` and `ws_gaps`:",
        "  promtool refuses a `_count` suffix on a gauge.",
        "- `circuit_breaker_state` has only the `bot` label (our risk events carry one",
        "  breaker per bot, not one per category).",
        "- `order_submission_total` counts one outcome per order id (`accepted` then",
        "  `filled` is one success); `submitted` events go to `orders_submitted_total`.",
        "",
        "## Bounds",
        "",
        "Label values from bots (symbol, reason, guard, category, operation, interval,",
        "issue_type, component, error_type) are capped per bot and label name",
        "(`max_label_values`, default 100); further values become `other` and are counted",
        "in `pipeline_label_overflow_total{bot,label}`. At most `max_bots` (5000) bots are",
        "tracked; events of further bots are counted in",
        '`pipeline_quarantined_total{reason="too_many_bots"}`.',
        "",
        "## Restarts",
        "",
        "Counters and histograms start at zero when the service starts (Prometheus's",
        "`rate()` and `increase()` handle the reset). A new durable consumer starts at the",
        "end of the stream, so history is never replayed into counters; a restarted one",
        "resumes after its last ack, so events published while it was down are counted",
        "once. Gauges (equity, risk, ws, data quality, the ages) are seeded at start from",
        "the stream's last message per subject. Redeliveries are recognized by event id",
        "(the last 500,000) and counted in `pipeline_duplicates_total` instead.",
        "",
        "## Endpoints and health",
        "",
        "`tradewire serve metrics` (port 8202 by default) serves `/metrics` (Prometheus text,",
        "or OpenMetrics when the scraper's Accept header asks for it; gzipped when its",
        "`Accept-Encoding` allows, as Prometheus's does), `/metrics.json` (every",
        "value, plus each bot's `latest_order_preview` and `latest_account_snapshot`), and",
        "`/live`, `/ready`, `/health`. `/health` adds the seed playbook's `signals` block,",
        "computed fleet-wide over `signal_window_s` (300 s) with thresholds from the config",
        "(warn / crit): `order_error_rate` (rejected or failed outcomes / all, 0.05 / 0.15),",
        "`order_retry_rate` (outcomes with retries / all, 0.10 / 0.25), `broker_latency_p95`",
        "(submit calls, ms, 1000 / 3000) and `guard_trip_count` (trips, 3 / 10). A CRIT",
        "signal makes `/health` unhealthy (503), a WARN one degraded (200). `/ready`,",
        "`/live`, NATS loss, signals and a failed task behave as in every service",
        "([architecture.md](architecture.md#services-health-nats-loss-signals)).",
        "",
        "A scrape copies the values on the event loop (about a tenth of the work) and",
        "formats and compresses them in a worker thread, so a large fleet's scrape does",
        "not hold up pulling, handling and acking for the whole render",
        "([benchmarks/README.md](../benchmarks/README.md), `metrics_scrape.py`).",
    ]
    return "\n".join(lines) + "\n"
