"""Writes one batch of events (and quarantined messages) in one DuckDB transaction."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb
import msgspec
import pyarrow as pa

from tradewire.consumers.runtime import Delivery
from tradewire.schemas import KIND_OF, AlertChange, Envelope, EventError

from ._tables import (
    ALERTS_ADDED,
    ALERTS_DDL,
    QUARANTINE_DDL,
    TABLES,
    Table,
    rows_to_arrow,
    views_ddl,
)

__all__ = ["StoreWriter", "WriteResult"]


@dataclass
class WriteResult:
    inserted: int = 0
    duplicates: int = 0
    quarantined: int = 0


class StoreWriter:
    """Owns the read-write DuckDB connection of one store process.

    Dedup is the ``id`` primary key with ``INSERT OR IGNORE``: a redelivered or
    re-published event is stored once whatever the stream's duplicate window.
    """

    def __init__(self, path: Path, *, threads: int = 2, memory_limit: str = "2GB") -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(
            str(path),
            config={
                # No SQL that runs in this process, ours or an operator's, may
                # read or write files or the network beyond the database itself.
                "enable_external_access": False,
                "lock_configuration": True,  # and no SET can change that
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "threads": threads,
                "memory_limit": memory_limit,
            },
        )
        self.lock = threading.Lock()  # one writer; SQL readers use their own cursors
        self._migrate()

    def _migrate(self) -> None:
        con = self.con
        for table in TABLES.values():
            con.execute(table.ddl())
            self._add_columns(table.name, {c.name: c.sql for c in table.columns})
        con.execute(QUARANTINE_DDL)
        con.execute(ALERTS_DDL)
        self._add_columns("alerts", ALERTS_ADDED)
        for ddl in views_ddl():
            con.execute(ddl)

    def _add_columns(self, table: str, columns: dict[str, str]) -> None:
        """Columns added to a table's definition since the file was created."""
        have = {
            r[0]
            for r in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                [table],
            ).fetchall()
        }
        for name, sql in columns.items():
            if name not in have:
                self.con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {sql}')

    def write_alerts(self, changes: list[tuple[AlertChange, Delivery]]) -> int:
        """Store alert state changes once per id (one transaction); return rows inserted."""
        if not changes:
            return 0
        data = pa.table(
            {
                "id": [c.id for c, _ in changes],
                "fingerprint": [c.fingerprint for c, _ in changes],
                "bot": [c.bot for c, _ in changes],
                "rule": [c.rule for c, _ in changes],
                "state": [c.state for c, _ in changes],
                "severity": [c.severity for c, _ in changes],
                "ts": pa.array([c.ts for c, _ in changes], pa.float64()),
                "active_since": pa.array([c.active_since for c, _ in changes], pa.float64()),
                "value": pa.array([c.value for c, _ in changes], pa.float64()),
                "threshold": pa.array([c.threshold for c, _ in changes], pa.float64()),
                "labels": [msgspec.json.encode(c.labels).decode() for c, _ in changes],
                "annotations": [
                    msgspec.json.encode({"summary": c.summary, "runbook": c.runbook}).decode()
                    for c, _ in changes
                ],
                "received_at": pa.array([d.received_ns / 1e9 for _, d in changes], pa.float64()),
                "stream_seq": pa.array([d.stream_seq for _, d in changes], pa.uint64()),
            }
        )
        with self.lock:
            self.con.execute("BEGIN TRANSACTION")
            try:
                n = self._append("alerts", data)
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
        return n

    def write(
        self, events: list[tuple[Envelope, Delivery]], bad: list[tuple[Delivery, EventError | str]]
    ) -> WriteResult:
        """Insert all of it or none of it; raise on failure (nothing is then acked)."""
        result = WriteResult()
        by_kind: dict[str, dict[str, tuple[Envelope, Delivery]]] = defaultdict(dict)
        for event, delivery in events:
            by_kind[KIND_OF[type(event)]].setdefault(event.id, (event, delivery))
        with self.lock:
            con = self.con
            con.execute("BEGIN TRANSACTION")
            try:
                for kind, rows in by_kind.items():
                    n = self._insert(TABLES[kind], list(rows.values()))
                    result.inserted += n
                    result.duplicates += len(rows) - n
                result.duplicates += len(events) - sum(len(r) for r in by_kind.values())
                if bad:
                    result.quarantined = self._quarantine(bad)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return result

    def _insert(self, table: Table, rows: list[tuple[Envelope, Delivery]]) -> int:
        data = rows_to_arrow(
            table,
            [e for e, _ in rows],
            [d.received_ns / 1e9 for _, d in rows],
            [d.stream_seq for _, d in rows],
        )
        return self._append(table.name, data)

    def _append(self, name: str, data: pa.Table) -> int:
        view = f"_batch_{name}"
        self.con.register(view, data)
        try:
            cols = ", ".join(f'"{c}"' for c in data.column_names)
            row = self.con.execute(
                f"INSERT OR IGNORE INTO {name} ({cols}) SELECT {cols} FROM {view}"
            ).fetchone()
        finally:
            self.con.unregister(view)
        return int(row[0]) if row else 0

    def _quarantine(self, bad: list[tuple[Delivery, EventError | str]]) -> int:
        now = time.time()
        seen: dict[int, tuple[Delivery, EventError | str]] = {}
        for d, err in bad:
            seen.setdefault(d.stream_seq, (d, err))
        rows = list(seen.values())
        data = pa.table(
            {
                "stream_seq": pa.array([d.stream_seq for d, _ in rows], pa.uint64()),
                "subject": [d.subject for d, _ in rows],
                "received_at": [d.received_ns / 1e9 for d, _ in rows],
                "quarantined_at": [now] * len(rows),
                "reason": [
                    e.reason if isinstance(e, EventError) else "write_failed" for _, e in rows
                ],
                "field": [e.field if isinstance(e, EventError) else None for _, e in rows],
                "error": [str(e) for _, e in rows],
                "num_delivered": pa.array([d.num_delivered for d, _ in rows], pa.int32()),
                "raw": pa.array([d.data for d, _ in rows], pa.binary()),
            }
        )
        return self._append("quarantine", data)

    def counts(self) -> dict[str, int]:
        """Rows per table (cheap: DuckDB keeps row counts)."""
        with self.lock:
            out = {}
            for t in [*TABLES.values()]:
                row = self.con.execute(f"SELECT count(*) FROM {t.name}").fetchone()
                out[t.name] = int(row[0]) if row else 0
            row = self.con.execute("SELECT count(*) FROM quarantine").fetchone()
            out["quarantine"] = int(row[0]) if row else 0
            return out

    def close(self) -> None:
        with self.lock:
            self.con.execute("CHECKPOINT")
            self.con.close()
