"""``docs/metrics.md``: the metric catalog, generated from the aggregator (a test keeps it)."""

from __future__ import annotations

from ._aggregator import Aggregator

__all__ = ["metrics_markdown"]


def metrics_markdown() -> str:
    agg = Aggregator("tradewire")
    lines = [
        "# Metrics",
        "",
        "Generated from `tradewire.consumers.metrics` (a test fails when this page drifts).",
        "Names carry the prefix `tradewire_` by default; `--metric-prefix gpt_trader` (or",
        "`TRADEWIRE_METRIC_PREFIX`) gives GPT-Trader's names. Every series has a `bot` label",
        "unless the table shows none. Ages are computed when `/metrics` is scraped, so they",
        "grow while a bot is silent. Histogram buckets (seconds): 0.001 ... 10 as in",
        "GPT-Trader; `pipeline_event_latency_seconds` uses 0.005 ... 60.",
        "",
        "| name | type | labels | meaning | source |",
        "| --- | --- | --- | --- | --- |",
    ]
    for fam in agg.registry.families.values():
        labels = ", ".join(fam.labels) or "(none)"
        lines.append(
            f"| `tradewire_{fam.name}` | {fam.kind} | {labels} | {fam.help} | {fam.source} |"
        )
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
        "once. Gauges (equity, risk, ws, data quality, the ages) are seeded at start from",
        "the stream's last message per subject. Redeliveries are recognized by event id",
        "(the last 500,000) and counted in `pipeline_duplicates_total` instead.",
        "",
        "## Endpoints and health",
        "",
        "`tradewire serve metrics` (port 8202 by default) serves `/metrics` (Prometheus text,",
        "or OpenMetrics when the scraper's Accept header asks for it), `/metrics.json` (every",
        "value, plus each bot's `latest_order_preview` and `latest_account_snapshot`), and",
        "`/live`, `/ready`, `/health`. `/health` adds the seed playbook's `signals` block,",
        "computed fleet-wide over `signal_window_s` (300 s) with thresholds from the config",
        "(warn / crit): `order_error_rate` (rejected or failed outcomes / all, 0.05 / 0.15),",
        "`order_retry_rate` (outcomes with retries / all, 0.10 / 0.25), `broker_latency_p95`",
        "(submit calls, ms, 1000 / 3000) and `guard_trip_count` (trips, 3 / 10). A CRIT",
        "signal makes `/health` unhealthy (503), a WARN one degraded (200).",
    ]
    return "\n".join(lines) + "\n"
