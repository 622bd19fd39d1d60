"""``tradewire sql``, and how report and backtest read the store.

The file is opened read-only when no process holds it; while the store holds it
(DuckDB lets one process write a file), the queries go to the store over NATS. Only the
default ``tradewire.duckdb`` falls back to the store when it does not exist: a ``--db``
that was named and is missing is an error, never a silent switch to another store.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import getpass
import io
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import nats.errors
from nats.aio.client import Client

from tradewire.schemas import Subjects

from ._nats import NatsRefused, cli_auth, connect_client, request
from .auth import Signer
from .store import MAX_LIMIT, QueryError, QueryResult, ReadOnlyQuery, SqlRequest, run_query

__all__ = [
    "DEFAULT_DB",
    "StoreReader",
    "add_store_arguments",
    "format_result",
    "open_runner",
    "open_store",
    "query",
    "truncation_note",
]

DEFAULT_DB = Path("tradewire.duckdb")
_FETCH = 2048
_STOP = b"stop"


class StoreReader:
    """Read-only queries against one store: ``where`` is ``local`` or ``store``."""

    where = ""

    async def query(self, sql: str, *, limit: int, timeout_s: float) -> QueryResult:
        raise NotImplementedError

    def rows(self, sql: str, *, timeout_s: float) -> AsyncGenerator[list[Any], None]:
        """Every row of ``sql``, read in one read-only transaction (a consistent snapshot)."""
        raise NotImplementedError


class _Local(StoreReader):
    where = "local"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    async def query(self, sql: str, *, limit: int, timeout_s: float) -> QueryResult:
        return await asyncio.to_thread(run_query, self.con, sql, limit=limit, timeout_s=timeout_s)

    async def rows(self, sql: str, *, timeout_s: float) -> AsyncGenerator[list[Any], None]:
        q = ReadOnlyQuery(self.con.cursor(), sql, timeout_s)
        try:
            await asyncio.to_thread(q.start)
            while chunk := await asyncio.to_thread(q.fetch, _FETCH):
                for row in chunk:
                    yield row
        finally:
            q.close()
            q.con.close()


class _Remote(StoreReader):
    where = "store"

    def __init__(
        self, nc: Client, url: str, subjects: Subjects, signer: Signer | None = None
    ) -> None:
        self.nc = nc
        self.url = url
        self.subjects = subjects
        self.signer = signer  # signs each query, for the store's audit log

    async def _ask(self, subject: str, data: bytes, timeout_s: float) -> QueryResult:
        wait = timeout_s + 5  # the store interrupts at timeout_s; then its answer travels
        headers = None
        if self.signer is not None and subject == self.subjects.sql:
            headers = self.signer.request_headers(subject, data, getpass.getuser())
        try:
            msg = await request(self.nc, subject, data, timeout=wait, headers=headers)
        except NatsRefused as exc:
            raise QueryError(str(exc)) from None
        except nats.errors.NoRespondersError:
            if subject == self.subjects.sql:
                raise QueryError(f"no store is answering on {subject} at {self.url}") from None
            raise QueryError("the store ended the query (idle too long, or restarted)") from None
        except nats.errors.TimeoutError:
            raise QueryError(f"the store did not answer within {wait:g}s") from None
        result = msgspec.json.decode(msg.data, type=QueryResult)
        if result.error:
            raise QueryError(result.error)
        return result

    async def query(self, sql: str, *, limit: int, timeout_s: float) -> QueryResult:
        req = SqlRequest(sql, limit=limit, timeout_s=timeout_s)
        return await self._ask(self.subjects.sql, msgspec.json.encode(req), timeout_s)

    async def rows(self, sql: str, *, timeout_s: float) -> AsyncGenerator[list[Any], None]:
        req = SqlRequest(sql, timeout_s=timeout_s, stream=True)
        chunk = await self._ask(self.subjects.sql, msgspec.json.encode(req), timeout_s)
        try:
            while True:
                for row in chunk.rows:
                    yield row
                if not chunk.more:
                    return
                chunk = await self._ask(chunk.next, b"", timeout_s)
        finally:
            if chunk.more:  # the caller stopped early: free the store's cursor now
                with contextlib.suppress(Exception):
                    await self.nc.publish(chunk.next, _STOP)


def _open_local(db: Path) -> duckdb.DuckDBPyConnection | None:
    """The file read-only, or None when another connection (the store) writes to it."""
    try:
        return duckdb.connect(
            str(db),
            read_only=True,
            config={"enable_external_access": False, "lock_configuration": True},
        )
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():  # another process (the store) writes to it
            return None
        raise QueryError(f"cannot open {db}: {exc}") from None
    except duckdb.ConnectionException as exc:
        if "same database file" in str(exc):  # this very process has it open read-write
            return None
        raise QueryError(f"cannot open {db}: {exc}") from None


def add_store_arguments(p: argparse.ArgumentParser) -> None:
    """``--db``, ``--nats-url``, ``--root``: how a command finds the store (:func:`open_store`)."""
    p.add_argument(
        "--db",
        type=Path,
        help="DuckDB file (default: tradewire.duckdb if it exists and no process holds it, "
        "else the running store); a --db that does not exist is an error",
    )
    p.add_argument("--nats-url", help="reach the running store (default $TRADEWIRE_NATS_URL)")
    p.add_argument("--root", default="tradewire", help="subject root (default tradewire)")


@contextlib.asynccontextmanager
async def open_store(
    db: Path | None, url: str | None, subjects: Subjects
) -> AsyncIterator[StoreReader]:
    """The store behind ``db`` (None: ``tradewire.duckdb``, or the running store)."""
    path = db or DEFAULT_DB
    con = None
    if path.exists():
        con = _open_local(path)
        if con is None and not url:
            raise QueryError(
                f"{path} is held by a running store: pass --nats-url (or set "
                "TRADEWIRE_NATS_URL) to go through the store"
            )
    elif db is not None:
        raise QueryError(f"{db}: no such file (leave out --db to ask the running store)")
    elif not url:
        raise QueryError(f"{path} does not exist and no --nats-url was given")
    if con is not None:
        try:
            yield _Local(con)
        finally:
            con.close()
        return
    assert url is not None
    auth = cli_auth()
    nc = await connect_client(url, name="tradewire-sql", auth=auth)
    try:
        yield _Remote(nc, url, subjects, Signer.of(auth))
    finally:
        await nc.close()


async def query(
    sql: str,
    *,
    db: Path | None,
    url: str | None,
    subjects: Subjects,
    limit: int = 1000,
    timeout_s: float = 30.0,
) -> tuple[QueryResult, str]:
    """Run ``sql`` and say where: ``local`` (file opened read-only) or ``store`` (over NATS)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"--limit must be between 1 and {MAX_LIMIT:,}")
    async with open_store(db, url, subjects) as store:
        return await store.query(sql, limit=limit, timeout_s=timeout_s), store.where


@contextlib.asynccontextmanager
async def open_runner(
    db: Path | None, url: str | None, subjects: Subjects, timeout_s: float = 60.0
) -> AsyncIterator[Callable[[str], Awaitable[list[list[Any]]]]]:
    """A function running many read-only queries, each returning all of its rows."""
    async with open_store(db, url, subjects) as store:

        async def run(sql: str) -> list[list[Any]]:
            return [row async for row in store.rows(sql, timeout_s=timeout_s)]

        yield run


def truncation_note(result: QueryResult, asked: int) -> str:
    """What was left out, for stderr; empty when the result is complete."""
    if not result.truncated:
        return ""
    n = len(result.rows)
    if n < result.limit:
        return f"only the first {n:,} rows fit in one reply from the store; narrow the query"
    if result.limit < asked:
        return f"stopped at {n:,} rows: the store sends at most {result.limit:,} (sql_row_limit)"
    return f"stopped at {n:,} rows (--limit); more rows match"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same number
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)


def format_result(result: QueryResult, fmt: str) -> str:
    """``table`` (aligned, for a terminal), ``csv`` or ``json`` (a list of objects)."""
    if fmt == "json":
        rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
        return msgspec.json.encode(rows, enc_hook=str).decode() + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(result.columns)
        writer.writerows([[_cell(v) for v in row] for row in result.rows])
        return out.getvalue()
    cells = [[_cell(v) for v in row] for row in result.rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(result.columns)]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
    ]
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    note = f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''}"
    note += ", more rows match)" if result.truncated else ")"
    return "\n".join([*lines, note]) + "\n"
