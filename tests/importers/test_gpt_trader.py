"""GPT-Trader importer: mapping, counting, determinism, and re-runs that store nothing twice."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningStore
from tests.waiting import wait_until
from tradewire.consumers.cli import main
from tradewire.consumers.importers import (
    ImportResult,
    gpt_trader_events,
    read_events_db,
    read_events_jsonl,
)
from tradewire.schemas import Account, Error, Guard, Heartbeat, Mark, Order, Ws

ROWS: list[tuple[str, str, Any]] = [
    (
        "2026-11-20 10:00:00",
        "trade",
        {
            "bot_id": "g",
            "order_id": "o1",
            "client_order_id": "c1",
            "symbol": "BTC-USD",
            "side": "BUY",
            "quantity": "0.5",
            "price": "64000.5",
            "status": "FILLED",
        },
    ),
    (
        "2026-11-20 10:00:01",
        "error",
        {"error": "order_placement_failed", "details": {"symbol": "ETH-USD", "quantity": "1"}},
    ),
    (
        "2026-11-20 10:00:02",
        "guard_triggered",
        {"guard": "daily_loss", "reason": "limit", "recoverable": False, "category": "limit"},
    ),
    (
        "2026-11-20 10:00:03",
        "websocket_reconnect",
        {"reconnect_count": 3, "gap_count": 1, "connected": True},
    ),
    ("2026-11-20 10:00:04", "stale_mark_detected", {"symbol": "SOL-USD", "side": "buy"}),
    ("2026-11-20 10:00:05", "heartbeat", {"bot_id": "g", "count": 7}),
    ("2026-11-20 10:00:06", "price_tick", {"symbol": "BTC-USD", "price": "64001"}),
    (
        "2026-11-20 10:00:07",
        "metric",
        {
            "bot_id": "g",
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
            },
        },
    ),
    (
        "2026-11-20 10:00:08",
        "metric",
        {
            "metrics": {
                "event_type": "order_rejected",
                "symbol": "ETH-USD",
                "side": "sell",
                "quantity": "2",
                "price": "market",
                "reason": "insufficient_funds",
            }
        },
    ),
    (
        "2026-11-20 10:00:09",
        "metric",
        {"metrics": {"event_type": "ws_mark_update", "symbol": "ETH-USD", "mark": "3100.5"}},
    ),
    ("2026-11-20 10:00:10", "metric", {"metrics": {"event_type": "order_preview"}}),
    ("2026-11-20 10:00:11", "orderbook_snapshot", {"symbol": "BTC-USD"}),
    ("2026-11-20 10:00:12", "trade", "{not json"),
    ("", "price_tick", {"symbol": "BTC-USD", "price": "1"}),  # no timestamp anywhere
    ("2026-11-20 10:00:13", "price_tick", {"symbol": "BTC-USD", "price": "NaN"}),
]


def make_db(path: Path, rows: list[tuple[str, str, Any]] = ROWS) -> Path:
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "timestamp TEXT, event_type TEXT, payload TEXT, bot_id TEXT)"
    )
    con.executemany(
        "INSERT INTO events (timestamp, event_type, payload, bot_id) VALUES (?, ?, ?, 'g')",
        [(ts, t, p if isinstance(p, str) else json.dumps(p)) for ts, t, p in rows],
    )
    con.commit()
    con.close()
    return path


def test_mapping_and_counts(tmp_path: Path) -> None:
    result = ImportResult()
    events = list(gpt_trader_events(read_events_db(make_db(tmp_path / "e.db")), "gpt", result))
    assert result.rows == len(ROWS)
    order, error, guard, ws, stale, hb, tick, account, rejected, mark = events
    assert isinstance(order, Order) and (order.side, order.status, order.qty, order.price) == (
        "buy",
        "filled",
        0.5,
        64000.5,
    )
    assert isinstance(error, Error) and error.error_type == "order_placement_failed"
    assert isinstance(guard, Guard) and (guard.guard, guard.recoverable) == ("daily_loss", False)
    assert isinstance(ws, Ws) and (ws.state, ws.reconnect_count) == ("connected", 3)
    assert isinstance(stale, Guard) and stale.guard == "mark_staleness"
    assert isinstance(hb, Heartbeat)
    assert isinstance(tick, Mark) and tick.price == 64001
    assert isinstance(account, Account) and account.equity == 10500.25
    assert account.positions[0].unrealized_pnl == pytest.approx(50.0)
    assert isinstance(rejected, Order) and rejected.status == "rejected"
    assert rejected.reason == "insufficient_funds" and rejected.price is None
    assert isinstance(mark, Mark) and mark.price == 3100.5
    assert [e.seq for e in events] == list(range(1, 11))  # gap-free despite skipped rows
    assert {e.bot for e in events} == {"gpt"}
    assert order.ts == 1795168800.0  # 2026-11-20 10:00:00 UTC
    assert result.unknown == {
        "metric:order_preview": 1,
        "orderbook_snapshot": 1,
        "unreadable payload": 1,
    }
    assert result.invalid == {"no timestamp": 1, "invalid": 1}  # the NaN price
    assert sum(result.mapped.values()) == 10


def test_ids_are_stable_and_growth_keeps_numbering(tmp_path: Path) -> None:
    db = make_db(tmp_path / "e.db")
    first = [e.id for e in gpt_trader_events(read_events_db(db), "gpt", ImportResult())]
    again = [e.id for e in gpt_trader_events(read_events_db(db), "gpt", ImportResult())]
    assert first == again
    make_db(db, [("2026-11-20 11:00:00", "price_tick", {"symbol": "X", "price": 2})])
    grown = [e.id for e in gpt_trader_events(read_events_db(db), "gpt", ImportResult())]
    assert grown[:-1] == first and len(grown) == len(first) + 1
    other_bot = [e.id for e in gpt_trader_events(read_events_db(db), "gpt2", ImportResult())]
    assert not set(other_bot) & set(first)


def test_jsonl_both_shapes(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        json.dumps(
            {
                "type": "price_tick",
                "data": {"symbol": "X", "price": 1, "timestamp": "2026-11-20T10:00:00Z"},
            }
        )
        + "\n"
        + json.dumps({"event_type": "heartbeat", "payload": {}, "timestamp": 1.7e9})
        + "\n"
        + "garbage\n\n"
    )
    result = ImportResult()
    events = list(gpt_trader_events(read_events_jsonl(path), "gpt", result))
    assert [type(e).__name__ for e in events] == ["Mark", "Heartbeat"]
    assert result.unknown == {"unreadable payload": 1}


def test_cli_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = make_db(tmp_path / "e.db")
    assert main(["import", "gpt-trader", "--events-db", str(db), "--bot", "gpt", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "rows read 15; mapped 10" in out and "orderbook_snapshot 1" in out
    assert (
        main(["import", "gpt-trader", "--events-db", str(tmp_path / "none.db"), "--bot", "gpt"])
        == 2
    )


@pytest.mark.nats
async def test_rerun_stores_nothing_twice(store: RunningStore, tmp_path: Path) -> None:
    db = make_db(tmp_path / "e.db")
    argv = [
        "import",
        "gpt-trader",
        "--events-db",
        str(db),
        "--bot",
        "gpt",
        "--nats-url",
        store.service.config.nats_url,
        "--outbox-dir",
        str(tmp_path / "outbox"),
    ]
    assert await asyncio.to_thread(main, argv) == 0
    await store.wait_for("SELECT count(*) FROM events WHERE bot = 'gpt'", 10)
    assert await asyncio.to_thread(main, argv) == 0
    await wait_until(store.caught_up, what="the store to handle all the stream holds")
    assert store.rows("SELECT count(*), count(DISTINCT id) FROM events")[0] == (10, 10)
