"""The GPT-Trader fixture day and a store built from it without NATS (StoreWriter)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from tradewire.consumers.importers import GptTraderImport, read_events_db
from tradewire.consumers.importers._source import db_has_type
from tradewire.consumers.report import DailyReport, build_report
from tradewire.consumers.runtime import Delivery
from tradewire.consumers.store import StoreWriter
from tradewire.schemas import Envelope

FIXTURE = Path(__file__).parent / "fixtures" / "gpt_trader_day"
EVENTS_DB = FIXTURE / "events.db"
DAY = "2026-11-20"
# The report is made an hour after the day ends, as an operator would run it.
NOW = dt.datetime(2026, 11, 21, 1, 0, tzinfo=dt.UTC).timestamp()


def import_db(db: Path = EVENTS_DB, bot: str = "gpt-prod") -> GptTraderImport:
    importer = GptTraderImport(bot, "db")
    importer.state.fills_from_fill_rows = db_has_type(db, "fill")
    return importer


def store_events(path: Path, events: Iterable[Envelope]) -> int:
    """Write events as the store service would (exactly once per id); returns inserted."""
    writer = StoreWriter(path)
    try:
        rows = [
            (e, Delivery(f"tradewire.evt.{e.bot}.x", b"", "", n, 1, int(e.ts * 1e9), 0))
            for n, e in enumerate(events, start=1)
        ]
        return writer.write(rows, []).inserted
    finally:
        writer.close()


def report_of(path: Path, bot: str | None = "gpt-prod") -> DailyReport:
    con = duckdb.connect(str(path), read_only=True)

    async def run(sql: str) -> list[list[Any]]:
        return [list(r) for r in con.execute(sql).fetchall()]

    try:
        return asyncio.run(build_report(run, date=DAY, now=NOW, bot=bot))
    finally:
        con.close()


def imported_store(tmp_path: Path) -> Path:
    path = tmp_path / "store.duckdb"
    store_events(path, import_db().events(read_events_db(EVENTS_DB)))
    return path
