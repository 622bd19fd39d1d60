"""GPT-Trader importer: mapping row by row, ids, timestamps, JSONL shapes, the CLI, re-runs."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningStore
from tests.importers.conftest import EVENTS_DB, import_db, store_events
from tests.waiting import wait_until
from tradewire.consumers.cli import main
from tradewire.consumers.importers import GptTraderImport, _v1, read_events_db, read_events_jsonl
from tradewire.schemas import (
    Account,
    BrokerCall,
    Decision,
    Error,
    Fill,
    Guard,
    Heartbeat,
    Lifecycle,
    Order,
    StaleMark,
    UnfilledOrder,
    Ws,
)

T0 = "2026-11-20 10:00:00"
ROWS: list[tuple[str, str, Any]] = [
    (
        "2026-11-20 09:59:00",
        "runtime_start",
        {"timestamp": 1795168700.0, "pid": 7, "build_sha": "abc", "package_version": "0.1.0"},
    ),
    (
        T0,
        "metric",
        {
            "metrics": {
                "event_type": "order_submission_attempt",
                "client_order_id": "c1",
                "symbol": "BTC-USD",
                "side": "BUY",
                "order_type": "LIMIT",
                "quantity": "0.5",
                "price": "64000.5",
                "timestamp": "2026-11-20T10:00:00+00:00",
            }
        },
    ),
    (
        T0,
        "trade",
        {
            "order_id": "o1",
            "client_order_id": "c1",
            "symbol": "BTC-USD",
            "side": "buy",
            "quantity": "0.5",
            "price": "64000.5",
            "status": "open",
        },
    ),
    (
        T0,
        "user_order_update",
        {
            "order_id": "o1",
            "client_order_id": "c1",
            "symbol": "BTC-USD",
            "status": "FILLED",
            "filled_size": "0.5",
            "avg_price": "64000",
        },
    ),
    (
        T0,
        "user_fill",
        {
            "order_id": "o1",
            "product_id": "BTC-USD",
            "side": "buy",
            "price": "64000",
            "size": "0.5",
            "fill_delta": "0.5",
            "fee": "1.5",
            "timestamp": "2026-11-20T10:00:02+00:00",
        },
    ),
    (
        T0,
        "metric",
        {
            "metrics": {
                "event_type": "order_rejected",
                "symbol": "*",
                "side": "*",
                "quantity": "0",
                "price": "market",
                "reason": "guard_failure:api_health",
            }
        },
    ),
    (
        T0,
        "guard_triggered",
        {
            "guard": "volatility_circuit_breaker",
            "symbol": "ETH-USD",
            "reason": "vol",
            "recoverable": False,
            "category": "limit",
            "timestamp": 1795168805.0,
        },
    ),
    (
        T0,
        "stale_mark_detected",
        {
            "symbol": "SOL-USD",
            "side": "buy",
            "allowed_reduce_only": True,
            "timestamp": 1795168806.0,
        },
    ),
    (
        T0,
        "websocket_reconnect",
        {"reconnect_count": 3, "gap_count": 1, "connected": True, "timestamp": 1795168807.0},
    ),
    (
        T0,
        "unfilled_order_alert",
        {
            "order_id": "o9",
            "symbol": "ETH-USD",
            "side": "SELL",
            "status": "OPEN",
            "age_seconds": 412.5,
            "threshold_seconds": 300,
            "timestamp": 1795168808.0,
        },
    ),
    (
        T0,
        "api_error",
        {"reason": "error rate", "details": {"rate": 0.3}, "timestamp": 1795168809.0},
    ),
    (T0, "heartbeat", {"timestamp": 1795168810.0, "count": 7}),
    (
        T0,
        "metric",
        {
            "metrics": {
                "event_type": "order_preview",
                "symbol": "BTC-USD",
                "preview": {"success": True},
            }
        },
    ),
    (
        T0,
        "metric",
        {
            "metrics": {
                "event_type": "cycle_metrics",
                "equity": "10500.25",
                "positions": [
                    {
                        "symbol": "BTC-USD",
                        "quantity": "0.5",
                        "side": "long",
                        "entry_price": "64000",
                        "mark_price": "64100",
                    }
                ],
            }
        },
    ),
    (
        T0,
        "trade_gate_blocked",
        {
            "gate": "mark_staleness",
            "symbol": "SOL-USD",
            "side": "buy",
            "reason": "stale",
            "decision_id": "d1",
        },
    ),
    (
        T0,
        "order_decision_trace",
        {
            "symbol": "SOL-USD",
            "side": "BUY",
            "decision_id": "d1",
            "outcomes": {"mark_staleness": {"status": "blocked"}},
        },
    ),
    (T0, "orderbook_snapshot", {"symbol": "BTC-USD"}),
    (T0, "trade", "{not json"),
    (T0, "price_tick", {"symbol": "BTC-USD", "price": "NaN", "timestamp": 1795168811.0}),
]


def make_db(path: Path, rows: list[tuple[str, str, Any]] = ROWS) -> Path:
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "timestamp TEXT NOT NULL, event_type TEXT NOT NULL, payload TEXT NOT NULL, bot_id TEXT)"
    )
    con.executemany(
        "INSERT INTO events (timestamp, event_type, payload) VALUES (?, ?, ?)",
        [(ts, t, p if isinstance(p, str) else json.dumps(p)) for ts, t, p in rows],
    )
    con.commit()
    con.close()
    return path


def test_each_row_type_maps_to_what_it_means(tmp_path: Path) -> None:
    importer = GptTraderImport("gpt", "db")
    events = list(importer.events(read_events_db(make_db(tmp_path / "e.db"))))
    kinds = [type(e) for e in events]
    assert kinds == [
        Lifecycle, Order, Order, Order, Fill, Decision, Guard, StaleMark, Ws, Ws, UnfilledOrder,
        Error, Heartbeat, BrokerCall, Account, Decision,
    ]  # fmt: skip
    start, submitted, accepted, filled, fill, paused, guard, stale, ws1, ws2 = events[:10]
    unfilled, api, beat, preview, account, blocked = events[10:]
    assert isinstance(start, Lifecycle) and (start.pid, start.build) == (7, "abc")
    # The limit order keeps its type and price through its lifecycle; statuses are real.
    assert isinstance(submitted, Order) and isinstance(accepted, Order)
    assert isinstance(filled, Order)
    assert [o.status for o in (submitted, accepted, filled)] == ["submitted", "accepted", "filled"]
    assert {o.order_type for o in (submitted, accepted, filled)} == {"limit"}
    assert accepted.price == 64000.5 and filled.avg_fill_price == 64000 and filled.side == "buy"
    assert isinstance(fill, Fill) and (fill.qty, fill.fee) == (0.5, 1.5)
    assert isinstance(paused, Decision) and (paused.action, paused.gate) == (
        "blocked",
        "guard_failure:api_health",
    )  # not an order with symbol * and qty 0
    assert isinstance(guard, Guard) and guard.symbol == "ETH-USD" and not guard.recoverable
    assert isinstance(stale, StaleMark) and stale.reduce_only
    assert isinstance(ws1, Ws) and isinstance(ws2, Ws)
    assert (ws1.state, ws2.state, ws1.reconnect_count) == ("reconnecting", "connected", 3)
    assert isinstance(unfilled, UnfilledOrder) and unfilled.age_s == 412.5
    assert isinstance(api, Error) and api.component == "api"
    assert isinstance(beat, Heartbeat) and beat.uptime_s == 110.0  # since runtime_start
    assert isinstance(preview, BrokerCall) and preview.operation == "preview"
    assert isinstance(account, Account) and account.unrealized_pnl == pytest.approx(50.0)
    assert isinstance(blocked, Decision) and blocked.decision_id == "d1"
    table = importer.result.by_type
    assert table["order_decision_trace"].skipped == {
        "the same decision as its trade_gate_blocked row": 1
    }
    assert table["trade"].skipped == {"unreadable payload": 1}
    assert table["orderbook_snapshot"].skipped == {"market data, not telemetry": 1}
    assert table["price_tick"].skipped == {"invalid: invalid at $.price": 1}


def test_timestamp_from_the_payload_first_then_the_column(tmp_path: Path) -> None:
    events = list(GptTraderImport("gpt", "db").events(read_events_db(make_db(tmp_path / "e.db"))))
    assert events[0].ts == 1795168700.0  # payload: 09:58:20, column says 09:59:00
    assert events[1].ts == 1795168800.0  # the metric's ISO time
    assert events[2].ts == 1795168800.0  # a trade row has none: the column, as UTC


def test_timestamps_do_not_depend_on_the_hosts_zone(tmp_path: Path) -> None:
    db = make_db(tmp_path / "e.db")
    code = (
        "import sys, json; from pathlib import Path;"
        "from tradewire.consumers.importers import GptTraderImport, read_events_db;"
        "imp = GptTraderImport('gpt', 'db');"
        "print(json.dumps([e.ts for e in imp.events(read_events_db(Path(sys.argv[1])))]))"
    )
    here = [e.ts for e in GptTraderImport("gpt", "db").events(read_events_db(db))]
    env = {**os.environ, "TZ": "America/New_York"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(db)], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == here


def test_ids_stay_when_the_mapping_changes(tmp_path: Path) -> None:
    db = make_db(tmp_path / "e.db")
    full = {e.id: e for e in GptTraderImport("gpt", "db").events(read_events_db(db))}
    narrow = GptTraderImport("gpt", "db")
    for etype in ("user_order_update", "guard_triggered", "unfilled_order_alert"):
        del narrow.mapper._rows[etype]  # an older mapping that knew fewer rows
    fewer = {e.id: e for e in narrow.events(read_events_db(db))}
    assert len(fewer) == len(full) - 3 and set(fewer) <= set(full)
    for event_id, event in fewer.items():  # same row, same id, same envelope
        same = full[event_id]
        assert (event.run, event.seq, type(event)) == (same.run, same.seq, type(same))
    again = [e.id for e in GptTraderImport("gpt", "db").events(read_events_db(db))]
    assert again == list(full)
    other = [e.id for e in GptTraderImport("gpt2", "db").events(read_events_db(db))]
    assert not set(other) & set(full)


def test_runs_stay_gap_free_per_row_type(tmp_path: Path) -> None:
    db = make_db(tmp_path / "e.db", ROWS * 3)
    events = list(GptTraderImport("gpt", "jsonl").events(read_events_db(db)))
    by_run: dict[str, list[int]] = {}
    for e in events:
        by_run.setdefault(e.run, []).append(e.seq)
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_run.values())


def test_upgrade_from_the_first_importer_stores_nothing_twice(tmp_path: Path) -> None:
    """Import the fixture day with the importer as it was (``_v1``), then with this one."""
    store = tmp_path / "store.duckdb"
    old = list(_v1.gpt_trader_events(_v1.read_events_db(EVENTS_DB), "gpt-prod", _v1.ImportResult()))
    assert store_events(store, old) == len(old)
    new = list(import_db().events(read_events_db(EVENTS_DB)))
    added = store_events(store, new)
    fresh = tmp_path / "fresh.duckdb"
    store_events(fresh, new)

    def counts(path: Path) -> dict[str, int]:
        import duckdb

        con = duckdb.connect(str(path), read_only=True)
        try:
            rows = con.execute("SELECT kind, count(*), count(DISTINCT id) FROM events GROUP BY 1")
            out = {}
            for kind, n, distinct in rows.fetchall():
                assert n == distinct
                out[kind] = n
            return out
        finally:
            con.close()

    upgraded, alone = counts(store), counts(fresh)
    # The new kinds arrived ...
    for kind in ("lifecycle", "decision", "stale_mark", "unfilled_order", "fill", "broker_call"):
        assert upgraded[kind] == alone[kind] > 0
    # ... and what the first importer stored was not stored again: the same number of
    # marks, heartbeats, accounts, errors, ws events and orders as a fresh import has.
    for kind in ("mark", "heartbeat", "account", "error", "ws"):
        assert upgraded[kind] == alone[kind], kind
    # What it got wrong in kind stays (docs/importers.md): the day's 4 stale marks as
    # guard trips, and its 2 guard-failure pseudo-orders (symbol *), decisions now.
    assert upgraded["guard"] == alone["guard"] + 4
    assert upgraded["order"] == alone["order"] + 2
    assert added == len(new) - sum(1 for e in new if e.run in {o.run for o in old})


def test_jsonl_all_three_shapes(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        # bot_v2 EventStore: flat, with `time` (naive UTC)
        {"type": "trade", "bot_id": "b", "order_id": "o1", "symbol": "BTC-USD", "side": "buy",
         "quantity": "1", "price": "10", "status": "filled", "time": "2026-11-20T10:00:00.5"},
        {"type": "metric", "bot_id": "b", "event_type": "ws_mark_update", "symbol": "BTC-USD",
         "mark": "11", "time": "2026-11-20T10:00:01"},
        # EventStore {"type","data"} dump: a trade has no time of its own
        {"type": "price_tick", "data": {"symbol": "BTC-USD", "price": "12",
                                        "timestamp": 1795168802.0}},
        {"type": "trade", "data": {"order_id": "o2", "symbol": "BTC-USD", "side": "sell",
                                   "quantity": "1", "price": "12", "status": "open"}},
        # the report's fallback: event_type + payload + timestamp, and flat with timestamp
        {"event_type": "heartbeat", "payload": {"count": 1}, "timestamp": "2026-11-20T10:00:03Z"},
        {"event_type": "stale_mark_detected", "symbol": "BTC-USD", "timestamp": 1795168804.0},
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\ngarbage\n\n")
    importer = GptTraderImport("gpt", "jsonl")
    events = list(importer.events(read_events_jsonl(path)))
    assert [type(e).__name__ for e in events] == [
        "Order", "Mark", "Mark", "Order", "Heartbeat", "StaleMark",
    ]  # fmt: skip
    assert [e.ts for e in events] == [
        1795168800.5, 1795168801.0, 1795168802.0, 1795168802.0, 1795168803.0, 1795168804.0
    ]  # fmt: skip
    assert importer.result.inferred_ts == 1  # the dumped trade took the tick's time
    assert importer.result.by_type["?"].skipped == {"unreadable payload": 1}


def test_cli_dry_run_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = make_db(tmp_path / "e.db")
    argv = ["import", "gpt-trader", "--events-db", str(db), "--bot", "gpt", "--dry-run"]
    assert main([*argv, "--progress"]) == 0
    out, err = capsys.readouterr()
    assert "rows 19/19" in err and "100.0%" in err
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["orderbook_snapshot"].split()[1:4] == ["1", "0", "0"]
    assert "market data, not telemetry" in lines["orderbook_snapshot"]
    assert lines["websocket_reconnect"].split()[1:4] == ["1", "1", "2"]
    assert lines["total"].split()[1:4] == ["19", "15", "16"]
    assert main(["import", "gpt-trader", "--events-db", str(tmp_path / "no.db"), "--bot", "g"]) == 2
    (tmp_path / "bad.db").write_text("not sqlite")
    assert (
        main(["import", "gpt-trader", "--events-db", str(tmp_path / "bad.db"), "--bot", "g"]) == 2
    )
    assert "not a GPT-Trader events.db" in capsys.readouterr().err


def test_cli_refuses_a_bad_bot_id_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = make_db(tmp_path / "e.db")
    argv = ["import", "gpt-trader", "--events-db", str(db), "--bot", "gpt prod/..", "--dry-run"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no table of rows each refused for the same reason
    assert err.splitlines() == [
        "tradewire import: 'gpt prod/..' is not a bot id (1-64 of A-Z a-z 0-9 _ -)"
    ]


@pytest.mark.nats
async def test_rerun_stores_nothing_twice(store: RunningStore, tmp_path: Path) -> None:
    db = make_db(tmp_path / "e.db")
    argv = [
        "import", "gpt-trader", "--events-db", str(db), "--bot", "gpt",
        "--nats-url", store.service.config.nats_url, "--outbox-dir", str(tmp_path / "outbox"),
    ]  # fmt: skip
    assert await asyncio.to_thread(main, argv) == 0
    await store.wait_for("SELECT count(*) FROM events WHERE bot = 'gpt'", 16)
    make_db(db, [("2026-11-20 11:00:00", "price_tick", {"symbol": "X", "price": 2})])
    assert await asyncio.to_thread(main, argv) == 0
    await wait_until(store.caught_up, what="the store to handle all the stream holds")
    assert store.rows("SELECT count(*), count(DISTINCT id) FROM events")[0] == (17, 17)
