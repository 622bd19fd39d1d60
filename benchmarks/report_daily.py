"""Daily report over a store holding millions of events.

usage: uv run python benchmarks/report_daily.py [--events 10000000] [--bots 100]

Fills a DuckDB store with synthetic rows (generated in SQL, spread over 24 h and
``--bots`` bots, mixed like the simulator: half marks, then orders, fills, broker calls,
cycles, snapshots), then times ``build_report`` for the fleet. Baseline, in the same run:
one ``GROUP BY bot`` pass over the window of every table (the least any per-bot report
reads).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).parent))
from _common import table

from tradewire.consumers.report import build_report
from tradewire.consumers.store import TABLES, StoreWriter

NOW = 1_795_000_000.0
MIX = {
    "mark": 0.5,
    "order": 0.15,
    "fill": 0.08,
    "broker_call": 0.08,
    "cycle": 0.12,
    "account": 0.02,
    "risk": 0.02,
    "heartbeat": 0.01,
    "data_quality": 0.01,
    "guard": 0.004,
    "ws": 0.003,
    "error": 0.003,
}
GEN = {  # column -> SQL over i (row number); columns not listed take their default / NULL
    "symbol": "['BTC-USD','ETH-USD','SOL-USD','DOGE-USD'][1 + i % 4]",
    "side": "CASE WHEN i % 2 = 0 THEN 'buy' ELSE 'sell' END",
    "price": "100 + (i % 997) * 0.01",
    "qty": "0.01 + (i % 13) * 0.001",
    "status": "['submitted','filled','rejected','partially_filled'][1 + i % 4]",
    "reason": "CASE WHEN i % 4 = 2 THEN 'insufficient_funds' ELSE 'none' END",
    "order_id": "'o' || (i // 2)",
    "fee": "0.01",
    "realized_pnl": "((i % 21) - 10) * 0.5",
    "operation": "'submit'",
    "latency_s": "(i % 500) / 1000.0",
    "outcome": "CASE WHEN i % 50 = 0 THEN 'failure' ELSE 'success' END",
    "duration_s": "(i % 300) / 100.0",
    "ok": "i % 100 <> 0",
    "equity": "10000 + (i % 1000) - 500",
    "unrealized_pnl": "(i % 7) - 3",
    "funding_pnl": "0",
    "circuit_breaker": "'closed'",
    "guard": "'daily_loss'",
    "action": "'tripped'",
    "state": "'reconnecting'",
    "score": "0.9",
    "component": "'x'",
    "error_type": "'E'",
    "category": "'limit'",
}


def fill(db: Path, events: int, bots: int) -> None:
    StoreWriter(db).close()  # tables, views
    con = duckdb.connect(str(db))
    for kind, share in MIX.items():
        t = TABLES[kind]
        n = int(events * share)
        cols, exprs = [], []
        for c in t.columns:
            if c.name == "id":
                e = f"'{kind}-' || i"
            elif c.name == "bot":
                e = f"'bot-' || (i % {bots})"
            elif c.name == "run":
                e = f"'run-' || (i % {bots})"
            elif c.name == "seq":
                e = "i"
            elif c.name in ("ts", "received_at"):
                e = f"{NOW} - 86400 + (i * 86400.0 / {n})"
            elif c.name == "v":
                e = "1"
            elif c.name == "stream_seq":
                e = "i"
            elif c.name in GEN and not c.nested:
                e = GEN[c.name]
            else:
                continue
            cols.append(f'"{c.name}"')
            exprs.append(e)
        con.execute(
            f"INSERT INTO {t.name} ({', '.join(cols)}) SELECT {', '.join(exprs)} "
            f"FROM range({n}) r(i)"
        )
    con.execute("CHECKPOINT")
    con.close()


async def timed_report(db: Path) -> float:
    con = duckdb.connect(str(db), read_only=True)

    async def run(sql: str) -> list[list[Any]]:
        return [list(r) for r in con.execute(sql).fetchall()]

    t0 = time.perf_counter()
    report = await build_report(run, now=NOW)
    elapsed = time.perf_counter() - t0
    con.close()
    assert len(report.bots) > 0
    return elapsed


def scan(db: Path) -> float:
    con = duckdb.connect(str(db), read_only=True)
    t0 = time.perf_counter()
    for t in TABLES.values():
        con.execute(
            f"SELECT bot, count(*), max(ts) FROM {t.name} WHERE ts >= {NOW - 86400}"
            f" AND ts < {NOW} GROUP BY bot"
        ).fetchall()
    elapsed = time.perf_counter() - t0
    con.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--bots", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "r.duckdb"
        t0 = time.perf_counter()
        fill(db, args.events, args.bots)
        print(f"filled {args.events:,} events in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        scans = [scan(db) for _ in range(args.rounds)]
        reports = [asyncio.run(timed_report(db)) for _ in range(args.rounds)]
    s, r = statistics.median(scans), statistics.median(reports)
    print(
        table(
            [
                ("GROUP BY bot over every table (baseline)", f"{s:.3f}", "1.0x"),
                (f"daily report, {args.bots} bots", f"{r:.3f}", f"{r / s:.1f}x"),
            ],
            ("work", "median seconds", "vs baseline"),
        )
    )


if __name__ == "__main__":
    main()
