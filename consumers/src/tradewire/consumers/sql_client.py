"""``tradewire sql``: ad-hoc read-only SQL, locally or through the running store."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import nats

from tradewire.schemas import Subjects

from .store import QueryError, QueryResult, SqlRequest, run_query
from .store._sql import MAX_LIMIT

__all__ = ["format_result", "open_runner", "query"]


def _local(db: Path, sql: str, limit: int, timeout_s: float) -> QueryResult | None:
    """Query the file read-only, or None when another process (the store) holds it."""
    try:
        con = duckdb.connect(str(db), read_only=True, config={"enable_external_access": False})
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():  # another process (the store) writes to it
            return None
        raise QueryError(f"cannot open {db}: {exc}") from None
    except duckdb.ConnectionException as exc:
        if "same database file" in str(exc):  # this very process has it open read-write
            return None
        raise QueryError(f"cannot open {db}: {exc}") from None
    try:
        return run_query(con, sql, limit=limit, timeout_s=timeout_s)
    finally:
        con.close()


async def _remote(
    url: str, subjects: Subjects, sql: str, limit: int, timeout_s: float
) -> QueryResult:
    nc = await nats.connect(url, name="tradewire-sql", allow_reconnect=False)
    try:
        msg = await nc.request(
            subjects.sql, msgspec.json.encode(SqlRequest(sql, limit)), timeout=timeout_s + 5
        )
    except nats.errors.NoRespondersError:
        raise QueryError(f"no store is answering on {subjects.sql} at {url}") from None
    except nats.errors.TimeoutError:
        raise QueryError(f"the store did not answer within {timeout_s + 5:g}s") from None
    finally:
        await nc.close()
    result = msgspec.json.decode(msg.data, type=QueryResult)
    if result.error:
        raise QueryError(result.error)
    return result


async def query(
    sql: str,
    *,
    db: Path,
    url: str | None,
    subjects: Subjects,
    limit: int = 1000,
    timeout_s: float = 30.0,
) -> tuple[QueryResult, str]:
    """Run ``sql`` and say where: ``local`` (file opened read-only) or ``store`` (over NATS)."""
    if db.exists():
        result = _local(db, sql, limit, timeout_s)
        if result is not None:
            return result, "local"
        if not url:
            raise QueryError(
                f"{db} is held by a running store: pass --nats-url (or set "
                "TRADEWIRE_NATS_URL) to query it through the store"
            )
    elif not url:
        raise QueryError(f"{db} does not exist and no --nats-url was given")
    assert url is not None
    return await _remote(url, subjects, sql, limit, timeout_s), "store"


@contextlib.asynccontextmanager
async def open_runner(
    db: Path, url: str | None, subjects: Subjects, timeout_s: float = 60.0
) -> AsyncIterator[Callable[[str], Awaitable[list[list[Any]]]]]:
    """A function running many read-only queries: on the file, or through the store."""
    con = None
    if db.exists():
        try:
            con = duckdb.connect(str(db), read_only=True, config={"enable_external_access": False})
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if "lock" not in str(exc).lower() and "same database file" not in str(exc):
                raise QueryError(f"cannot open {db}: {exc}") from None
            if not url:
                raise QueryError(
                    f"{db} is held by a running store: pass --nats-url (or "
                    "set TRADEWIRE_NATS_URL) to go through the store"
                ) from None
    elif not url:
        raise QueryError(f"{db} does not exist and no --nats-url was given")

    async def local(sql: str) -> list[list[Any]]:
        assert con is not None
        result = await asyncio.to_thread(run_query, con, sql, limit=MAX_LIMIT, timeout_s=timeout_s)
        return _complete(result)

    async def remote(sql: str) -> list[list[Any]]:
        assert url is not None
        return _complete(await _remote(url, subjects, sql, MAX_LIMIT, timeout_s))

    try:
        yield local if con is not None else remote
    finally:
        if con is not None:
            con.close()


def _complete(result: QueryResult) -> list[list[Any]]:
    if result.truncated:
        raise QueryError("a report query hit the row limit; narrow the window or the bot")
    return result.rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
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
    note += ", truncated by the row limit)" if result.truncated else ")"
    return "\n".join([*lines, note]) + "\n"
