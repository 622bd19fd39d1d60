"""Read-only, sandboxed ad-hoc SQL against the store.

Three fences: only one statement, of type SELECT or EXPLAIN (so no INSERT,
UPDATE, DDL, ATTACH, COPY, SET or PRAGMA); the database runs with
``enable_external_access=false`` (no file or network access, which DuckDB
will not re-enable at runtime); and a row limit and a timeout (the query is
interrupted).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import duckdb
import msgspec

__all__ = ["QueryError", "QueryResult", "SqlRequest", "check_read_only", "run_query"]

MAX_LIMIT = 100_000
_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class QueryError(ValueError):
    """The query was refused or failed; the message says why."""


class SqlRequest(msgspec.Struct, forbid_unknown_fields=True):
    """What ``tradewire sql`` sends on ``<root>.sql``."""

    sql: str
    limit: int = 1000


class QueryResult(msgspec.Struct):
    columns: list[str] = msgspec.field(default_factory=list)
    types: list[str] = msgspec.field(default_factory=list)
    rows: list[list[Any]] = msgspec.field(default_factory=list)
    truncated: bool = False
    elapsed_ms: float = 0.0
    error: str = ""


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"cannot parse: {exc}") from None
    if len(statements) != 1:
        raise QueryError(f"one statement per query, got {len(statements)}")
    kind = statements[0].type
    if kind not in _ALLOWED:
        raise QueryError(f"read-only: only SELECT and EXPLAIN are allowed, not {kind.name}")


def run_query(
    con: duckdb.DuckDBPyConnection, sql: str, *, limit: int = 1000, timeout_s: float = 30.0
) -> QueryResult:
    """Run one read-only query on ``con`` (a cursor of its own); raise QueryError."""
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
    check_read_only(con, sql)
    timer = threading.Timer(timeout_s, con.interrupt)
    start = time.perf_counter()
    timer.start()
    try:
        con.execute(sql)
        rows = con.fetchmany(limit + 1)
        desc = con.description or []
    except duckdb.InterruptException:
        raise QueryError(f"timed out after {timeout_s:g}s") from None
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from None
    finally:
        timer.cancel()
    return QueryResult(
        columns=[d[0] for d in desc],
        types=[str(d[1]) for d in desc],
        rows=[list(r) for r in rows[:limit]],
        truncated=len(rows) > limit,
        elapsed_ms=(time.perf_counter() - start) * 1000,
    )
