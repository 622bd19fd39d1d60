"""Read-only, sandboxed ad-hoc SQL against the store.

DuckDB calls ``WITH x AS (DELETE ... RETURNING id) SELECT * FROM x`` a SELECT and
``EXPLAIN ANALYZE INSERT ...`` an EXPLAIN, and ``SELECT * FROM checkpoint()`` rewrites the
database file from inside a SELECT. So the statement type alone proves nothing; four
fences, each independent of the others:

1. The statement (:func:`check_read_only`): exactly one, a SELECT or an EXPLAIN (never
   EXPLAIN ANALYZE) of one, whose parsed tree (``json_serialize_sql``) holds only query
   nodes (no DELETE/INSERT/UPDATE inside), table functions from an allow-list only (no
   ``checkpoint()``, ``query()``, ``read_csv()``, ...), and no function that writes or
   reads the host (``nextval``, ``setval``, ``current_setting``, ...).
2. The transaction (:class:`ReadOnlyQuery`): every query runs inside ``BEGIN TRANSACTION
   READ ONLY``, where DuckDB refuses any write, and is always rolled back.
3. The database: ``enable_external_access=false`` (no files, no network) and
   ``lock_configuration`` (no ``SET``), set where the connection is opened.
4. Limits: a row limit, and a time budget after which the query is interrupted, which
   frees the thread and the core it held.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import duckdb
import msgspec

__all__ = [
    "MAX_LIMIT",
    "QueryError",
    "QueryResult",
    "ReadOnlyQuery",
    "SqlRequest",
    "check_read_only",
    "plain_rows",
    "run_query",
]

MAX_LIMIT = 100_000
_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
# Query nodes a plain SELECT is made of; anything else (DELETE_QUERY_NODE, ...) writes.
_QUERY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})
# Table functions that only compute or describe the schema. Everything else is refused,
# so a function added by a later DuckDB stays out until someone looks at it.
TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "repeat_row",
        "json_each",
        "json_tree",
        "duckdb_columns",
        "duckdb_constraints",
        "duckdb_functions",
        "duckdb_indexes",
        "duckdb_keywords",
        "duckdb_schemas",
        "duckdb_tables",
        "duckdb_types",
        "duckdb_views",
        "pragma_table_info",
        "pragma_show",
        "pragma_version",
        "summary",  # SUMMARIZE
    }
)
# Functions that change state (sequences, the session) or read the host's configuration.
DENIED_FUNCTIONS = frozenset(
    {
        "nextval",
        "currval",
        "setval",
        "setseed",
        "current_setting",
        "getenv",
        "write_log",
        "sleep_ms",
        "json_execute_serialized_sql",
    }
)
_DENIED_RELATIONS = frozenset({"pg_settings"})  # current_setting() for every setting
_PATHLIKE = re.compile(r"[./\\:]")  # no table or view of the store has these in its name


class QueryError(ValueError):
    """The query was refused or failed; the message says why."""


class SqlRequest(msgspec.Struct, forbid_unknown_fields=True):
    """What ``tradewire sql`` (and report, backtest) send on ``<root>.sql``.

    ``timeout_s`` 0 means the store's ``sql_timeout_s``, which also caps it. With
    ``stream`` the store sends every row, a chunk per request, in one transaction.
    """

    sql: str
    limit: int = 1000
    timeout_s: float = 0.0
    stream: bool = False


class QueryResult(msgspec.Struct):
    columns: list[str] = msgspec.field(default_factory=list)
    types: list[str] = msgspec.field(default_factory=list)
    rows: list[list[Any]] = msgspec.field(default_factory=list)
    truncated: bool = False  # more rows matched than were sent
    limit: int = 0  # the row limit that was applied
    elapsed_ms: float = 0.0
    error: str = ""
    more: bool = False  # stream: another chunk follows when asked for on ``next``
    next: str = ""  # stream: the subject to ask on


def _refuse(why: str) -> QueryError:
    return QueryError(f"read-only: {why}")


def _one_statement(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.Statement:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"cannot parse: {exc}") from None
    if len(statements) != 1:
        raise _refuse(f"one statement per query, got {len(statements)}")
    return statements[0]


def _explained(text: str) -> str:
    """The statement inside ``EXPLAIN [(options)]``; refuse ``ANALYZE``, which runs it."""
    raw = duckdb.tokenize(text)
    ends = [pos for pos, _ in raw[1:]] + [len(text)]
    tokens = [
        (pos, text[pos:end].strip())
        for (pos, kind), end in zip(raw, ends, strict=True)
        if kind != duckdb.token_type.comment
    ]
    words = [w.upper() for _, w in tokens]
    if not words or words[0] != "EXPLAIN":
        raise _refuse("cannot find the statement EXPLAIN explains")
    i = 1
    if i < len(words) and words[i] == "(":
        close = words.index(")", i) if ")" in words[i:] else len(words)
        if {"ANALYZE", "ANALYSE"} & set(words[i:close]):
            raise _refuse("EXPLAIN ANALYZE runs the statement; use EXPLAIN")
        i = close + 1
    if i >= len(words):
        raise _refuse("EXPLAIN of nothing")
    if words[i] in ("ANALYZE", "ANALYSE"):
        raise _refuse("EXPLAIN ANALYZE runs the statement; use EXPLAIN")
    return text[tokens[i][0] :]


def _walk(tree: Any) -> Iterator[dict[str, Any]]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _check_select(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    statement = _one_statement(con, sql)
    if statement.type != duckdb.StatementType.SELECT:
        raise _refuse(f"only SELECT and EXPLAIN are allowed, not {statement.type.name}")
    row = con.execute("SELECT json_serialize_sql(?::VARCHAR)", [statement.query]).fetchone()
    tree = json.loads(row[0]) if row else {"error": True}
    if tree.get("error"):
        raise _refuse(f"cannot check this statement: {tree.get('error_message', 'unknown')}")
    for node in _walk(tree):
        kind = node.get("type")
        if isinstance(kind, str) and kind.endswith("_NODE") and kind not in _QUERY_NODES:
            what = kind.removesuffix("_NODE").removesuffix("_QUERY")
            raise _refuse(f"{what} inside a query is not allowed")
        if kind == "TABLE_FUNCTION":
            name = str(node.get("function", {}).get("function_name", "")).lower()
            if name not in TABLE_FUNCTIONS:
                raise _refuse(f"table function {name}() is not allowed")
        if kind == "BASE_TABLE":
            name = str(node.get("table_name", ""))
            if _PATHLIKE.search(name):  # FROM 'file.csv' is read_csv('file.csv')
                raise _refuse(f"reading files is not allowed ({name!r})")
            if name.lower() in _DENIED_RELATIONS:
                raise _refuse(f"{name} is not allowed")
        if node.get("class") == "FUNCTION":
            name = str(node.get("function_name", "")).lower()
            if name in DENIED_FUNCTIONS:
                raise _refuse(f"{name}() is not allowed")


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Raise QueryError unless ``sql`` is one plain SELECT, or an EXPLAIN of one."""
    statement = _one_statement(con, sql)
    if statement.type not in _ALLOWED:
        raise _refuse(f"only SELECT and EXPLAIN are allowed, not {statement.type.name}")
    if statement.type == duckdb.StatementType.EXPLAIN:
        _check_select(con, _explained(statement.query))
    else:
        _check_select(con, statement.query)


def _utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    if isinstance(value, list):
        return [_utc(v) for v in value]
    if isinstance(value, dict):
        return {k: _utc(v) for k, v in value.items()}
    return value


def plain_rows(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as the JSON on the wire carries them, the same locally and over NATS.

    Timestamps with a time zone in UTC, then ISO 8601 strings; decimals, UUIDs and
    intervals as strings; numbers, lists and structs unchanged.
    """
    out = [list(r) for r in rows]
    if out:
        # A column's first value tells its type (the cursor's type names vary by version).
        zoned = [
            i
            for i in range(len(out[0]))
            if isinstance(
                next((r[i] for r in out if r[i] is not None), None), dt.datetime | list | dict
            )
        ]
        for r in out:
            for i in zoned:
                r[i] = _utc(r[i])
    converted: list[list[Any]] = msgspec.to_builtins(out, enc_hook=str)
    return converted


class ReadOnlyQuery:
    """One checked statement on its own cursor, in a read-only transaction.

    The transaction is always rolled back, whatever ran. ``timeout_s`` is the budget
    for all of the statement's work (executing and every fetch): past it, the query is
    interrupted. ``interrupt()`` may be called from any thread.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, sql: str, timeout_s: float) -> None:
        if not timeout_s > 0:
            raise QueryError("the timeout must be > 0")
        self.con = con
        self.sql = sql
        self.timeout_s = timeout_s
        self.used_s = 0.0
        self.columns: list[str] = []
        self.types: list[str] = []
        self._open = False
        self._lock = threading.Lock()

    def start(self) -> None:
        try:
            self.con.execute("BEGIN TRANSACTION READ ONLY")
        except duckdb.Error as exc:
            raise QueryError(f"cannot start a read-only transaction: {exc}") from None
        self._open = True
        check_read_only(self.con, self.sql)
        self._timed(lambda: self.con.execute(self.sql))
        desc = self.con.description or []
        self.columns = [d[0] for d in desc]
        self.types = [str(d[1]) for d in desc]

    def fetch(self, n: int) -> list[list[Any]]:
        rows: list[tuple[Any, ...]] = self._timed(lambda: self.con.fetchmany(n))
        return plain_rows(rows)

    def _timed(self, work: Any) -> Any:
        left = self.timeout_s - self.used_s
        if left <= 0:
            raise QueryError(f"timed out after {self.timeout_s:g}s")
        timer = threading.Timer(left, self.interrupt)
        start = time.perf_counter()
        timer.start()
        try:
            return work()
        except duckdb.InterruptException:
            raise QueryError(f"timed out after {self.timeout_s:g}s") from None
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from None
        finally:
            timer.cancel()
            self.used_s += time.perf_counter() - start

    def interrupt(self) -> None:
        with self._lock:
            if self._open:
                self.con.interrupt()

    def close(self) -> None:
        """Roll back (a failed rollback still ends with the cursor closed, which rolls back)."""
        with self._lock:
            was_open, self._open = self._open, False
        if was_open:
            try:
                self.con.execute("ROLLBACK")
            except duckdb.Error:
                self.con.close()


def run_query(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    limit: int = 1000,
    timeout_s: float = 30.0,
    running: set[ReadOnlyQuery] | None = None,
) -> QueryResult:
    """Run one read-only query on ``con`` (a cursor of its own); raise QueryError.

    ``running`` holds the query while it runs, for whoever may have to interrupt it.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT:,}")
    start = time.perf_counter()
    query = ReadOnlyQuery(con, sql, timeout_s)
    if running is not None:
        running.add(query)
    try:
        query.start()
        rows = query.fetch(limit + 1)
    finally:
        if running is not None:
            running.discard(query)
        query.close()
    return QueryResult(
        columns=query.columns,
        types=query.types,
        rows=rows[:limit],
        truncated=len(rows) > limit,
        limit=limit,
        elapsed_ms=(time.perf_counter() - start) * 1000,
    )
