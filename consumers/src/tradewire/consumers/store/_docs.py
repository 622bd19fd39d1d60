"""What each stored column means, and the generated ``docs/store-tables.md``.

A test fails when a column has no entry here or the committed page drifts, so
the docs can never lag the tables (they are derived from the event schemas).
"""

from __future__ import annotations

from tradewire.schemas import KINDS

from ._tables import TABLES

__all__ = ["COLUMN_DOCS", "KIND_COLUMN_DOCS", "tables_markdown"]

COLUMN_DOCS: dict[str, str] = {
    "id": "event id `<run>-<seq>`; also the Nats-Msg-Id; dedup key",
    "bot": "bot id (checked equal to the subject's bot token)",
    "run": "publisher instance id (one bot process start)",
    "seq": "1, 2, 3, ... per run; gaps mean lost events (see `seq_gaps`)",
    "ts": "event time, seconds since the epoch (UTC, bot clock)",
    "v": "schema version of the kind",
    "received_at": "when JetStream stored it, seconds since the epoch (server clock)",
    "stream_seq": "sequence in the events stream",
    "symbol": "instrument, e.g. BTC-USD",
    "side": "buy or sell",
    "qty": "quantity (base units), >= 0",
    "price": "price (quote units); NULL for a market order without one",
    "fee": "fee paid (negative for a rebate)",
    "fees": "fees paid so far",
    "reason": "normalized reason code (`none` when there is none)",
    "order_id": "exchange order id",
    "client_order_id": "the bot's own order id",
    "order_type": "market, limit, ...",
    "status": "submitted, accepted, rejected, failed, partially_filled, filled, cancelled, expired",
    "filled_qty": "quantity filled so far",
    "avg_fill_price": "average fill price, NULL before any fill",
    "latency_s": "seconds the exchange took to answer",
    "retries": "submission retries",
    "reduce_only": "the order (or the bot, in risk snapshots) may only reduce exposure",
    "realized_pnl": "realized profit and loss",
    "unrealized_pnl": "unrealized profit and loss at the marks",
    "liquidity": "maker, taker or unknown",
    "operation": "exchange API call: submit, cancel, preview, ...",
    "outcome": "success or failure",
    "guard": "name of the risk guard",
    "category": "guard category: limit, generic, action, computation, data, telemetry",
    "action": "tripped, cleared or warn",
    "value": "the guarded value when it acted",
    "limit": "the guard's limit",
    "recoverable": "whether the bot recovers by itself",
    "daily_loss": "loss so far today (positive number)",
    "daily_loss_limit": "the daily loss the bot may not exceed",
    "drawdown_pct": "drawdown from peak equity, percent",
    "exposure_usd": "gross exposure in USD",
    "circuit_breaker": "closed, half_open or open",
    "equity": "account equity",
    "cash": "cash balance",
    "funding_pnl": "funding payments received (negative: paid)",
    "positions": "open positions: LIST of STRUCT(symbol, qty, side long|short, entry_price, "
    "mark_price, notional, unrealized_pnl)",
    "exchange_ts": "the exchange's timestamp of the price, if known",
    "state": "connected, disconnected or reconnecting",
    "reconnect_count": "reconnects since the bot started",
    "gap_count": "sequence gaps seen in the market-data feed",
    "interval": "candle interval checked, e.g. 1m",
    "score": "data-quality score, 0 (bad) to 1 (good)",
    "issues": "problems found: LIST of STRUCT(issue_type, severity low|medium|high|critical, "
    "count)",
    "component": "part of the bot that raised it",
    "error_type": "exception class or error code",
    "message": "error message (up to 8192 characters)",
    "uptime_s": "seconds since the bot process started",
    "version": "bot version",
    "profile": "bot profile (prod, paper, ...)",
    "duration_s": "seconds the trading-loop pass took",
    "ok": "false when the pass raised",
    "orders_submitted": "orders submitted during the pass",
    "symbols": "number of symbols the pass handled",
    "cpu_percent": "the bot process's CPU since the previous heartbeat, % of one core",
    "memory_rss_bytes": "the bot process's resident memory",
    "memory_percent": "the bot process's resident memory, % of the host's",
    "open_files": "file descriptors the bot process holds",
    "threads": "threads of the bot process",
    "disk_percent": "use of the filesystem holding the outbox, %",
    "disk_used_bytes": "bytes used on the filesystem holding the outbox",
    "net_sent_bytes": "bytes the host's interfaces sent since boot",
    "net_recv_bytes": "bytes the host's interfaces received since boot",
    "decision_id": "the trade decision behind it",
    "strategy": "the strategy that acted",
    "endpoint": "exchange API endpoint",
    "rate_limit_remaining": "requests left in the exchange's rate-limit window",
    "rate_limit_limit": "requests allowed in the exchange's rate-limit window",
    "open_orders": "orders open at the exchange",
    "fee_tier": "the account's fee tier",
    "limit_remaining": "trading limit left at the exchange, USD",
    "last_message_ts": "when the bot last got a market-data message (bot clock)",
    "last_heartbeat_ts": "when the bot last got a feed heartbeat (bot clock)",
    "last_close_ts": "when the feed last closed (bot clock)",
    "last_error_ts": "when the feed last failed (bot clock)",
    "heartbeat_lag_s": "delay of the feed's latest heartbeat",
    "build": "build id of the bot, e.g. a commit sha",
    "pid": "process id of the bot",
    "config_digest": "digest of the bot's configuration",
    "gate": "what blocked the decision",
    "age_s": "how old it was when reported, seconds",
    "threshold_s": "the age the bot tolerates, seconds",
    "name": "metric name (the bot's own)",
    "type": "gauge (a value), counter (an increment) or histogram (an observation)",
    "labels": "the metric's labels: MAP(VARCHAR, VARCHAR), e.g. labels['strategy']",
    "unit": "unit of the value",
}

# Where one name means something else in one kind.
KIND_COLUMN_DOCS: dict[tuple[str, str], str] = {
    ("account", "realized_pnl"): "realized profit and loss so far",
    ("risk", "reduce_only"): "the bot is in reduce-only mode",
    ("broker_call", "category"): "API area: orders, market_data, accounts, ...",
    ("broker_call", "retries"): "retries the call needed",
    ("broker_call", "symbol"): "instrument the call was about, if any",
    ("lifecycle", "state"): "started, stopped, paused, resumed or emergency_stop",
    ("health", "status"): "healthy, degraded, unhealthy or critical",
    ("health", "component"): "what the verdict is about (a strategy, a feed)",
    ("health", "message"): "why",
    ("decision", "action"): "executed or blocked",
    ("decision", "reason"): "why it was blocked (or taken)",
    ("unfilled_order", "status"): "the exchange's status text for the order",
    ("stale_mark", "reduce_only"): "the bot still allows reduce-only orders",
    ("guard", "symbol"): "the instrument a per-symbol guard acted on; empty for the account",
    ("guard_check", "ok"): "false when the check found a problem",
    ("metric", "value"): "gauge value, counter increment (>= 0) or histogram observation",
}

_EXTRA = """\
## quarantine

Messages the store could not accept, kept with their exact bytes. They are acked, so
they are not redelivered; fix the sender, then inspect or replay them from here. The
primary key is (stream_seq, received_at): one row per message, redeliveries included,
also across a recreated stream (which numbers its messages from 1 again).

| column | type | meaning |
| --- | --- | --- |
| stream_seq | UBIGINT | sequence in the events stream |
| subject | VARCHAR | subject it arrived on |
| received_at | DOUBLE | when JetStream stored it (s since the epoch) |
| quarantined_at | DOUBLE | when the store quarantined it |
| reason | VARCHAR | from the decoder: malformed, invalid, too_large, unsupported_version, unstamped, bot_mismatch, kind_mismatch, bad_subject, clock_skew (see schema-evolution.md); from the store: duplicate_id (the id is already stored as another kind), unstorable (this message could not be written while the rest of its batch was), write_failed (the store failed to write it `max_deliveries` times) |
| field | VARCHAR | JSON path of the offending field, when one is to blame |
| error | VARCHAR | the full error message |
| num_delivered | INTEGER | deliveries before it was quarantined |
| raw | BLOB | the message payload as received |

## seq_ranges

The stored ids of the form `<prefix>-<n>` (what publishers stamp: `<run>-<seq>`; n is 1
to 18 digits without a leading zero), as ranges of n per prefix: a run stored in order is
one row. With `event_ids`, what makes an id one event across all the kind tables; the
store also keeps the ranges of the runs it saw lately in memory.

| column | type | meaning |
| --- | --- | --- |
| prefix | VARCHAR | the id up to its last `-` (the publisher's run) |
| lo | BIGINT | first number of the range |
| hi | BIGINT | last number of the range (ranges of a prefix never overlap or touch) |

## event_ids

Every other stored id (an importer's hashes, a bridge's ids), once, with its kind.

| column | type | meaning |
| --- | --- | --- |
| id | VARCHAR | event id; primary key |
| kind | VARCHAR | the kind (and so the table) it is stored as |

## alerts

Alert state changes (pending, firing, resolved, and pending -> inactive) published by
`tradewire serve alerts` on `<ROOT>_ALERTS`, stored once per change id by the store's
second durable consumer (`alerts_durable`, default `tradewire-store-alerts`).

| column | type | meaning |
| --- | --- | --- |
| id | VARCHAR | state-change id; primary key |
| bot | VARCHAR | bot the alert is about |
| rule | VARCHAR | rule name |
| state | VARCHAR | pending, firing, resolved, or inactive (a pending alert that cleared) |
| severity | VARCHAR | info, warning or critical |
| ts | DOUBLE | when the state changed (s since the epoch) |
| labels | JSON | alert labels |
| annotations | JSON | summary and runbook |
| received_at | DOUBLE | when JetStream stored it |
| stream_seq | UBIGINT | sequence in the alerts stream |
| fingerprint | VARCHAR | stable id of the alert instance (rule, bot, labels) |
| active_since | DOUBLE | when the condition started holding |
| value | DOUBLE | the rule's value at the change |
| threshold | DOUBLE | the threshold of the severity it fired at |

## Views

| view | what |
| --- | --- |
| events | kind, id, bot, run, seq, ts, received_at, stream_seq of every stored event (a UNION ALL of the kind tables) |
| seq_gaps | per (bot, run): first_missing, last_missing, missing, for every hole in `seq`. Events lost after a run's last stored event cannot be seen; an event still in flight shows as a gap until it lands |
| runs | per (bot, run): events, first_seq, last_seq, missing (= last_seq - events), first_ts, last_ts |
"""


def tables_markdown() -> str:
    out = [
        "# Store tables",
        "",
        "Generated by `tradewire.consumers.store._docs` (a test keeps it current). One "
        "table per event kind; every row also carries the envelope and where it sat in "
        "the stream. Times are DOUBLE seconds since the epoch: use `to_timestamp(ts)` "
        "for a TIMESTAMP.",
        "",
    ]
    for kind, table in TABLES.items():
        out += [
            f"## {table.name}",
            "",
            f"Events of kind `{kind}` (`{KINDS[kind].__name__}`).",
            "",
            "| column | type | meaning |",
            "| --- | --- | --- |",
        ]
        for col in table.columns:
            doc = KIND_COLUMN_DOCS.get((kind, col.name)) or COLUMN_DOCS[col.name]
            key = " (unique across all tables: see `seq_ranges`)" if col.name == "id" else ""
            out.append(f"| {col.name} | {col.sql} | {doc}{key} |")
        out.append("")
    return "\n".join(out) + "\n" + _EXTRA
