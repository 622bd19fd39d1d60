"""Writes one batch of events (and quarantined messages) in one DuckDB transaction."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import msgspec
import pyarrow as pa

from tradewire.consumers.runtime import Delivery
from tradewire.schemas import KIND_OF, AlertChange, Envelope, EventError

from ._seqs import SEQ_ID_REGEX, SEQ_RANGES_DDL, SeqIndex, split_id
from ._tables import (
    ALERTS_ADDED,
    ALERTS_DDL,
    EVENT_IDS_DDL,
    QUARANTINE_DDL,
    QUARANTINE_KEY,
    TABLES,
    Table,
    rows_to_arrow,
    views_ddl,
)

__all__ = ["Problem", "Refused", "StoreWriter", "WriteResult"]

log = logging.getLogger("tradewire.store")


@dataclass(frozen=True)
class Refused:
    """Why the store itself refuses a message the decoder accepted (see ``quarantine``)."""

    reason: str  # duplicate_id, unstorable, write_failed
    error: str
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.reason}: {self.error}"


# Why a message goes to quarantine; a plain str is the text of a write_failed.
Problem = EventError | Refused | str
_Item = tuple[Delivery, Envelope | Problem]


@dataclass
class WriteResult:
    inserted: int = 0
    duplicates: int = 0
    quarantined: int = 0  # rows added to quarantine
    # Messages sent to quarantine by reason: the batch's bad ones and those the writer
    # refused itself (duplicate_id, unstorable).
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, other: WriteResult) -> None:
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.reasons.update(other.reasons)


def _reason(problem: Problem) -> str:
    return "write_failed" if isinstance(problem, str) else problem.reason


# Failures of the database, not of a message: splitting the batch would not help.
_STORE_FAULTS = (
    OSError,
    MemoryError,
    duckdb.IOException,
    duckdb.FatalException,
    duckdb.InternalException,
    duckdb.OutOfMemoryException,
)


class StoreWriter:
    """Owns the read-write DuckDB connection of one store process.

    Exactly once per event id, across kinds: an id ``<run>-<seq>`` (what publishers
    stamp) is recorded in the ranges of ``seq_ranges`` (:class:`SeqIndex`), any other id
    in ``event_ids`` (its primary key) with its kind, in the batch's transaction; only an
    event whose id neither held yet is inserted. A redelivered or re-published event
    (same id and kind) is a duplicate and skipped, whatever the stream's duplicate
    window; an id already stored as another kind is quarantined as ``duplicate_id``.
    """

    def __init__(
        self,
        path: Path,
        *,
        threads: int = 2,
        memory_limit: str = "2GB",
        cache_prefixes: int = 100_000,
    ) -> None:
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
        self.seqs = SeqIndex(self.con, cache_prefixes=cache_prefixes)
        self._migrate()

    def _migrate(self) -> None:
        con = self.con
        for table in TABLES.values():
            con.execute(table.ddl())
            self._add_columns(table.name, {c.name: c.sql for c in table.columns})
        # Kind tables of files created before event_ids keep an id primary key: they are
        # inserted into with INSERT OR IGNORE (an id the key holds is skipped as before).
        self._keyed = {
            str(r[0])
            for r in con.execute(
                "SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
            ).fetchall()
        } & {t.name for t in TABLES.values()}
        self._migrate_quarantine_key()
        con.execute(QUARANTINE_DDL)
        con.execute(ALERTS_DDL)
        self._add_columns("alerts", ALERTS_ADDED)
        for ddl in views_ddl():
            con.execute(ddl)
        self._create_event_ids()
        self._create_seq_ranges()

    @contextlib.contextmanager
    def _atomic(self) -> Iterator[None]:
        """One transaction: committed if the block returns, rolled back if it raises;
        the id ranges in memory follow it."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
            self.con.execute("COMMIT")
        except BaseException:
            self.seqs.rolled_back()
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended it already
                self.con.execute("ROLLBACK")
            raise
        self.seqs.committed()

    def _has_table(self, name: str) -> bool:
        row = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?",
            [name],
        ).fetchone()
        return bool(row and row[0])

    def _create_event_ids(self) -> None:
        """A file from before ``event_ids`` gets it filled from the stored events, the
        earliest row (by stream position) of each id deciding its kind."""
        if self._has_table("event_ids"):
            return
        with self._atomic():
            self.con.execute(EVENT_IDS_DDL)
            # Rows written without a stream position (by hand, by a tool) still count.
            self.con.execute(
                "INSERT INTO event_ids SELECT id, coalesce(arg_min(kind, stream_seq), "
                "any_value(kind)) FROM events GROUP BY id"
            )

    def _create_seq_ranges(self) -> None:
        """A file from before ``seq_ranges``: the ids of ``event_ids`` that split as
        ``<prefix>-<n>`` become ranges (consecutive numbers of a prefix, one row), and
        ``event_ids`` keeps only the others, which it still decides alone."""
        if self._has_table("seq_ranges"):
            return
        con = self.con
        split = (
            f"SELECT regexp_extract(id, '{SEQ_ID_REGEX}', 1) AS prefix, "
            f"CAST(regexp_extract(id, '{SEQ_ID_REGEX}', 2) AS BIGINT) AS n FROM event_ids "
            f"WHERE regexp_matches(id, '{SEQ_ID_REGEX}')"
        )
        with self._atomic():
            con.execute(SEQ_RANGES_DDL)
            # Consecutive numbers share n - row_number(): one group per range.
            con.execute(
                "INSERT INTO seq_ranges SELECT prefix, min(n), max(n) FROM ("
                "SELECT prefix, n, n - row_number() OVER (PARTITION BY prefix ORDER BY n) AS g "
                f"FROM ({split})) GROUP BY prefix, g"
            )
            con.execute("ALTER TABLE event_ids RENAME TO event_ids_old")
            con.execute(EVENT_IDS_DDL)
            con.execute(
                "INSERT INTO event_ids SELECT id, kind FROM event_ids_old "
                f"WHERE NOT regexp_matches(id, '{SEQ_ID_REGEX}')"
            )
            con.execute("DROP TABLE event_ids_old")

    def _migrate_quarantine_key(self) -> None:
        """Files created with ``quarantine`` keyed by ``stream_seq`` alone: a sequence
        number repeats once the stream is recreated, so rows are copied into the table
        keyed by (stream_seq, received_at), in one transaction."""
        keys = self.con.execute(
            "SELECT constraint_column_names FROM duckdb_constraints() "
            "WHERE table_name = 'quarantine' AND constraint_type = 'PRIMARY KEY'"
        ).fetchall()
        if not keys or tuple(keys[0][0]) == QUARANTINE_KEY:
            return
        con = self.con
        with self._atomic():
            con.execute("ALTER TABLE quarantine RENAME TO quarantine_old")
            con.execute(QUARANTINE_DDL)
            # Every old row has received_at (it came with the message); a NULL would be
            # kept as 0, its stream_seq alone being unique in the old table.
            con.execute(
                "INSERT INTO quarantine (stream_seq, subject, received_at, quarantined_at, "
                "reason, field, error, num_delivered, raw) "
                "SELECT stream_seq, subject, coalesce(received_at, 0), quarantined_at, "
                "reason, field, error, num_delivered, raw FROM quarantine_old"
            )
            con.execute("DROP TABLE quarantine_old")
        log.info("quarantine: primary key migrated to (stream_seq, received_at)")

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
        with self.lock, self._atomic():
            return self._append("alerts", data)

    def write(
        self,
        events: Sequence[tuple[Envelope, Delivery]],
        bad: Sequence[tuple[Delivery, Problem]],
    ) -> WriteResult:
        """Insert the batch in one transaction; raise when nothing of it can be written.

        If the transaction fails for a reason other than the database's own (see
        ``_STORE_FAULTS``), the batch is split in halves, recursively, to find the
        messages at fault: they go to quarantine as ``unstorable`` and their neighbours
        are written. A batch no part of which can be written raises (nothing is acked).
        """
        with self.lock:
            try:
                return self._transaction(events, bad)
            except _STORE_FAULTS:
                raise
            except Exception as exc:
                items: list[_Item] = [(d, e) for e, d in events]
                items += bad
                log.warning("write of %d message(s) failed: %r; isolating", len(items), exc)
                return self._isolate(items, exc)

    def _isolate(self, items: list[_Item], first: Exception) -> WriteResult:
        """Write ``items`` in ever smaller parts, left first; a single message that still
        fails is refused. Bounded: past a budget of a few failures per level of halving,
        or when no part could be written, the batch failed for the store's reasons."""
        result = WriteResult()
        refused: list[tuple[Delivery, Problem]] = []
        budget = 4 * len(items).bit_length() + 4
        wrote = False
        parts = _halves(items) if len(items) > 1 else []
        while parts:
            part = parts.pop()
            try:
                result.add(self._transaction(*_split(part)))
                wrote = True
            except _STORE_FAULTS:
                raise
            except Exception as exc:
                budget -= 1
                if budget < 0:
                    raise first from exc
                if len(part) > 1:
                    parts += _halves(part)
                else:
                    refused.append((part[0][0], Refused("unstorable", repr(exc))))
        if not wrote:
            raise first
        if refused:
            log.error("quarantining %d message(s) the store could not write", len(refused))
            result.add(self._transaction([], refused))
        return result

    def _transaction(
        self,
        events: Sequence[tuple[Envelope, Delivery]],
        bad: Sequence[tuple[Delivery, Problem]],
    ) -> WriteResult:
        result = WriteResult()
        with self._atomic():
            problems = list(bad)
            if events:
                self._write_events(events, result, problems)
            if problems:
                result.quarantined = self._quarantine(problems)
                result.reasons.update(_reason(p) for _, p in problems)
        return result

    def _write_events(
        self,
        events: Sequence[tuple[Envelope, Delivery]],
        result: WriteResult,
        problems: list[tuple[Delivery, Problem]],
    ) -> None:
        """Insert each id's first event (in stream order); a later one with the same id
        is a duplicate if it is of the same kind, else a ``duplicate_id`` problem."""
        unique: Iterable[tuple[Envelope, Delivery]] = events
        if len({e.id for e, _ in events}) < len(events):  # an id more than once in it
            first: dict[str, tuple[Envelope, Delivery]] = {}
            for item in events:
                first.setdefault(item[0].id, item)
            for event, d in events:
                kept, kept_d = first[event.id]
                if kept_d is d:
                    continue
                if type(kept) is type(event):
                    result.duplicates += 1
                else:
                    problems.append((d, _duplicate_id(event.id, KIND_OF[type(kept)])))
            unique = first.values()
        # The batch's own tuples are regrouped, not copied: ingest's cost per event.
        by_kind: dict[str, list[tuple[Envelope, Delivery]]] = defaultdict(list)
        for item in unique:
            by_kind[KIND_OF[type(item[0])]].append(item)
        stored = self._claim_ids(by_kind)
        if stored:  # ids stored before this batch: a redelivery, or another kind's id
            for kind, rows in by_kind.items():
                fresh = []
                for e, d in rows:
                    before = stored.get(e.id)
                    if before is None:
                        fresh.append((e, d))
                    elif before == kind:
                        result.duplicates += 1
                    else:
                        problems.append((d, _duplicate_id(e.id, before)))
                by_kind[kind] = fresh
        for kind, rows in by_kind.items():
            n = self._insert(TABLES[kind], rows) if rows else 0
            result.inserted += n
            result.duplicates += len(rows) - n

    def _claim_ids(self, by_kind: dict[str, list[tuple[Envelope, Delivery]]]) -> dict[str, str]:
        """Record the batch's (distinct) ids as stored; return {id: kind} for the ids
        stored already (only their events are left out). Only such a batch pays for
        finding their kinds."""
        keys: list[tuple[str, int]] = []
        other: list[str] = []
        other_kinds: list[str] = []
        for kind, rows in by_kind.items():
            for e, _ in rows:
                key = split_id(e.id)
                if key is None:
                    other.append(e.id)
                    other_kinds.append(kind)
                else:
                    keys.append(key)
        stored = self._claim_other_ids(other, other_kinds) if other else {}
        if keys and (held := self.seqs.claim(keys)):
            stored.update(self._stored_kinds(held, by_kind))
        return stored

    def _stored_kinds(
        self, held: set[str], by_kind: dict[str, list[tuple[Envelope, Delivery]]]
    ) -> dict[str, str]:
        """{id: kind stored as} for ids the ranges hold, from the kind tables. An id the
        ranges hold with no row left (deleted by hand) counts as this batch's kind: it
        is a duplicate either way, never stored twice."""
        view = "_batch_held_ids"
        self.con.register(view, pa.table({"id": list(held)}))
        try:
            found = self.con.execute(
                f"SELECT id, any_value(kind) FROM events WHERE id IN (SELECT id FROM {view}) "
                "GROUP BY id"
            ).fetchall()
        finally:
            _unregister(self.con, view)
        kinds = {e.id: kind for kind, rows in by_kind.items() for e, _ in rows if e.id in held}
        kinds.update((str(i), str(k)) for i, k in found)
        return kinds

    def _claim_other_ids(self, ids: list[str], kinds: list[str]) -> dict[str, str]:
        """Ids that are not ``<prefix>-<n>``: into ``event_ids``; {id: kind} of those it
        held already."""
        view = "_batch_event_ids"
        self.con.register(view, pa.table({"id": ids, "kind": kinds}))
        try:
            claimed = self.con.execute(
                f"INSERT OR IGNORE INTO event_ids SELECT id, kind FROM {view} RETURNING id"
            ).fetchall()
        finally:
            _unregister(self.con, view)
        if len(claimed) == len(ids):
            return {}
        new = {row[0] for row in claimed}
        known = [i for i in ids if i not in new]
        found = self.con.execute(
            "SELECT id, kind FROM event_ids WHERE id = ANY(?)", [known]
        ).fetchall()
        return {str(i): str(k) for i, k in found}

    def _insert(self, table: Table, rows: list[tuple[Envelope, Delivery]]) -> int:
        data = rows_to_arrow(
            table,
            [e for e, _ in rows],
            [d.received_ns / 1e9 for _, d in rows],
            [d.stream_seq for _, d in rows],
        )
        return self._append(table.name, data, or_ignore=table.name in self._keyed)

    def _append(self, name: str, data: pa.Table, *, or_ignore: bool = True) -> int:
        """Insert ``data``; ``or_ignore`` skips rows whose primary key is already there."""
        view = f"_batch_{name}"
        self.con.register(view, data)
        try:
            cols = ", ".join(f'"{c}"' for c in data.column_names)
            verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
            row = self.con.execute(
                f"{verb} INTO {name} ({cols}) SELECT {cols} FROM {view}"
            ).fetchone()
        finally:
            _unregister(self.con, view)
        return int(row[0]) if row else 0

    def _quarantine(self, bad: list[tuple[Delivery, Problem]]) -> int:
        now = time.time()
        seen: dict[tuple[int, int], tuple[Delivery, Problem]] = {}
        for d, problem in bad:  # the key of QUARANTINE_KEY
            seen.setdefault((d.stream_seq, d.received_ns), (d, problem))
        rows = list(seen.values())
        data = pa.table(
            {
                "stream_seq": pa.array([d.stream_seq for d, _ in rows], pa.uint64()),
                "subject": [d.subject for d, _ in rows],
                "received_at": [d.received_ns / 1e9 for d, _ in rows],
                "quarantined_at": [now] * len(rows),
                "reason": [_reason(p) for _, p in rows],
                "field": [None if isinstance(p, str) else p.field for _, p in rows],
                "error": [str(p) for _, p in rows],
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


def _unregister(con: duckdb.DuckDBPyConnection, view: str) -> None:
    """Drop a registered Arrow view; in a failed transaction DuckDB refuses even that,
    and the error that failed it is the one to raise."""
    with contextlib.suppress(duckdb.Error):
        con.unregister(view)


def _split(
    items: list[_Item],
) -> tuple[list[tuple[Envelope, Delivery]], list[tuple[Delivery, Problem]]]:
    """A part of a batch back into its events and its messages for quarantine."""
    events: list[tuple[Envelope, Delivery]] = []
    bad: list[tuple[Delivery, Problem]] = []
    for d, x in items:
        if isinstance(x, Envelope):
            events.append((x, d))
        else:
            bad.append((d, x))
    return events, bad


def _halves(part: list[_Item]) -> list[list[_Item]]:
    """The two halves of ``part`` as a stack: the left one is popped first."""
    mid = len(part) // 2
    return [part[mid:], part[:mid]]


def _duplicate_id(event_id: str, kind: str) -> Refused:
    return Refused("duplicate_id", f"id {event_id!r} is already a {kind} event", "$.id")
