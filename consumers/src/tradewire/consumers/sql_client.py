"""``tradewire sql``, and how report and backtest read the store.

The file is opened read-only when no process holds it; while the store holds it
(DuckDB lets one process write a file), the queries go to the store over NATS. Only the
default ``tradewire.duckdb`` falls back to the store when it does not exist: a ``--db``
that was named and is missing is an error, never a silent switch to another store.

When several stores share the fleet (docs/scaling.md), each holds some bots' events:

- their files (several ``--db``, or a directory) are read as one store (``store._files``),
  after checking they are every partition once (``--partial`` lets one be missing,
  with a warning);
- over NATS, the stores are found first (``<root>.sql.partitions``); a question about
  one bot goes to the store holding it, the backtest merges every store's rows in time
  order, and a fleet-wide query or report, which no store can answer alone and no
  merge of their answers can make exact, is refused with what to do instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import getpass
import heapq
import io
import json
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import nats.errors
from nats.aio.client import Client

from tradewire.schemas import Subjects

from ._nats import NatsRefused, cli_auth, connect_client, request
from .auth import Signer
from .runtime import slot_of
from .store import (
    MAX_LIMIT,
    QueryError,
    QueryResult,
    ReadOnlyQuery,
    SqlRequest,
    StorePartition,
    check_complete,
    discovery_subject,
    open_files,
    partition_subject,
    read_partition,
    run_query,
    store_files,
)

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
DISCOVERY_S = 2.0  # how long to wait for every store to say which partition it holds
MergeKey = Callable[[list[Any]], Any]


class StoreReader:
    """Read-only queries against the store: ``where`` is ``local``, ``store`` or ``stores``."""

    where = ""

    async def query(self, sql: str, *, limit: int, timeout_s: float) -> QueryResult:
        raise NotImplementedError

    def rows(
        self, sql: str, *, timeout_s: float, merge_key: MergeKey | None = None
    ) -> AsyncGenerator[list[Any], None]:
        """Every row of ``sql``, read in one read-only transaction (a consistent snapshot).

        ``merge_key``: ``sql`` is ordered by it; several stores' rows may then be merged
        (each store's own snapshot)."""
        raise NotImplementedError


class _Local(StoreReader):
    where = "local"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    async def query(self, sql: str, *, limit: int, timeout_s: float) -> QueryResult:
        return await asyncio.to_thread(run_query, self.con, sql, limit=limit, timeout_s=timeout_s)

    async def rows(
        self, sql: str, *, timeout_s: float, merge_key: MergeKey | None = None
    ) -> AsyncGenerator[list[Any], None]:
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
        self,
        nc: Client,
        url: str,
        subjects: Subjects,
        signer: Signer | None = None,
        subject: str = "",
    ) -> None:
        self.nc = nc
        self.url = url
        self.subjects = subjects
        self.signer = signer  # signs each query, for the store's audit log
        self.subject = subject or subjects.sql  # one of several: its partition's

    async def _ask(self, subject: str, data: bytes, timeout_s: float) -> QueryResult:
        wait = timeout_s + 5  # the store interrupts at timeout_s; then its answer travels
        headers = None
        if self.signer is not None and subject == self.subject:
            headers = self.signer.request_headers(subject, data, getpass.getuser())
        try:
            msg = await request(self.nc, subject, data, timeout=wait, headers=headers)
        except NatsRefused as exc:
            raise QueryError(str(exc)) from None
        except nats.errors.NoRespondersError:
            if subject == self.subject:
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
        return await self._ask(self.subject, msgspec.json.encode(req), timeout_s)

    async def rows(
        self, sql: str, *, timeout_s: float, merge_key: MergeKey | None = None
    ) -> AsyncGenerator[list[Any], None]:
        req = SqlRequest(sql, timeout_s=timeout_s, stream=True)
        chunk = await self._ask(self.subject, msgspec.json.encode(req), timeout_s)
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


class _Merged(StoreReader):
    """Several running stores, each holding some bots: only what merges exactly."""

    where = "stores"

    def __init__(self, stores: list[_Remote], shares: list[StorePartition]) -> None:
        self.stores = stores
        self.shares = shares

    def _refusal(self, what: str) -> QueryError:
        return QueryError(
            f"{what} needs the whole fleet in one place, and {len(self.stores)} stores each "
            "hold a share of it (docs/scaling.md): query their files together (--db with "
            "every partition's file, or their directory, read from stopped stores or "
            "copies), or ask about one bot (report daily --bot B)"
        )

    async def query(self, sql: str, *, limit: int, timeout_s: float) -> QueryResult:
        raise self._refusal("fleet-wide SQL")

    async def rows(
        self, sql: str, *, timeout_s: float, merge_key: MergeKey | None = None
    ) -> AsyncGenerator[list[Any], None]:
        if merge_key is None:
            raise self._refusal("this query")
        streams = [store.rows(sql, timeout_s=timeout_s) for store in self.stores]
        heads: list[tuple[Any, int, list[Any]]] = []
        try:
            for i, rows in enumerate(streams):
                row = await anext(rows, None)
                if row is not None:
                    heads.append((merge_key(row), i, row))
            heapq.heapify(heads)
            while heads:
                _, i, row = heads[0]
                yield row
                nxt = await anext(streams[i], None)
                if nxt is None:
                    heapq.heappop(heads)
                else:
                    heapq.heapreplace(heads, (merge_key(nxt), i, nxt))
        finally:
            for rows in streams:
                await rows.aclose()


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
    """``--db``, ``--nats-url``, ``--root``, ``--partial``: how a command finds the store
    (:func:`open_store`)."""
    p.add_argument(
        "--db",
        type=Path,
        action="append",
        help="DuckDB file (default: tradewire.duckdb if it exists and no process holds it, "
        "else the running store); a --db that does not exist is an error. Several stores' "
        "files (repeat --db, or name their directory) are read as one store",
    )
    p.add_argument("--nats-url", help="reach the running store (default $TRADEWIRE_NATS_URL)")
    p.add_argument("--root", default="tradewire", help="subject root (default tradewire)")
    p.add_argument(
        "--partial",
        action="store_true",
        help="with several stores, go on when a partition is missing (a warning says which)",
    )


def _warn(warnings: list[str]) -> None:
    for text in warnings:
        print(f"warning: {text}", file=sys.stderr)


async def _discover(nc: Client, subjects: Subjects) -> list[StorePartition] | None:
    """What every running store holds, as each says; None when no store answers, []
    when stores answer queries but not this (an older store: ask it as before)."""
    inbox = nc.new_inbox()
    replies: asyncio.Queue[StorePartition | None] = asyncio.Queue()

    async def on_reply(msg: Any) -> None:
        if msg.headers and msg.headers.get("Status") == "503":
            await replies.put(None)  # no responders
            return
        with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
            await replies.put(msgspec.json.decode(msg.data, type=StorePartition))

    sub = await nc.subscribe(inbox, cb=on_reply)
    try:
        await nc.publish(discovery_subject(subjects), b"", reply=inbox)
        shares: dict[int, StorePartition] = {}
        found: list[StorePartition] = []
        deadline = time.monotonic() + DISCOVERY_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                share = await asyncio.wait_for(replies.get(), left)
            except TimeoutError:
                break
            if share is None:
                return found or None  # no responders: no store at all
            found.append(share)
            shares[share.index] = share
            if len(shares) >= share.count and len(found) == len(shares):
                break  # every partition has answered, once
        return found
    finally:
        await sub.unsubscribe()


async def _remote(
    nc: Client, url: str, subjects: Subjects, *, bot: str | None, partial: bool
) -> StoreReader:
    """The running store, or stores: the one holding ``bot``, else every one."""
    signer = Signer.of(cli_auth())
    shares = await _discover(nc, subjects)
    if shares is None:
        raise QueryError(f"no store is answering on {subjects.sql} at {url}")
    if not shares or (all(s.count == 1 for s in shares) and len(shares) == 1):
        return _Remote(nc, url, subjects, signer)
    _warn(check_complete(shares, partial=partial))
    by_index = {s.index: s for s in shares}

    def store(index: int) -> _Remote:
        return _Remote(nc, url, subjects, signer, partition_subject(subjects, index))

    if bot is not None:
        share = shares[0]
        index = slot_of(bot, share.stream_partitions) % share.count
        if index not in by_index:
            raise QueryError(f"bot {bot} is in partition {index}, whose store is not answering")
        return store(index)
    return _Merged([store(i) for i in sorted(by_index)], shares)


@contextlib.asynccontextmanager
async def open_store(
    db: Path | Sequence[Path] | None,
    url: str | None,
    subjects: Subjects,
    *,
    bot: str | None = None,
    partial: bool = False,
) -> AsyncIterator[StoreReader]:
    """The store behind ``db`` (None: ``tradewire.duckdb``, or the running store); several
    files (or a directory): the stores that share the fleet, read as one. ``bot``: only
    that bot is asked about (several running stores: the one holding it answers)."""
    dbs = [db] if isinstance(db, Path) else list(db or [])
    if len(dbs) > 1 or any(p.is_dir() for p in dbs):
        files, warnings = await asyncio.to_thread(open_files, store_files(dbs), partial=partial)
        _warn(warnings)
        try:
            yield _Local(files)
        finally:
            files.close()
        return
    named = dbs[0] if dbs else None
    path = named or DEFAULT_DB
    con = None
    if path.exists():
        con = _open_local(path)
        if con is None and not url:
            raise QueryError(
                f"{path} is held by a running store: pass --nats-url (or set "
                "TRADEWIRE_NATS_URL) to go through the store"
            )
    elif named is not None:
        raise QueryError(f"{named}: no such file (leave out --db to ask the running store)")
    elif not url:
        raise QueryError(f"{path} does not exist and no --nats-url was given")
    if con is not None:
        try:
            _warn(_check_alone(con, path, partial))
            yield _Local(con)
        finally:
            con.close()
        return
    assert url is not None
    nc = await connect_client(url, name="tradewire-sql", auth=cli_auth())
    try:
        yield await _remote(nc, url, subjects, bot=bot, partial=partial)
    finally:
        await nc.close()


def _check_alone(con: duckdb.DuckDBPyConnection, path: Path, partial: bool) -> list[str]:
    """A file holding one partition of several is not the fleet on its own."""
    (catalog,) = con.execute("SELECT current_database()").fetchone() or ("",)
    share = read_partition(con, str(catalog), path.name)
    return check_complete([share], partial=partial) if share is not None else []


async def query(
    sql: str,
    *,
    db: Path | Sequence[Path] | None,
    url: str | None,
    subjects: Subjects,
    limit: int = 1000,
    timeout_s: float = 30.0,
    partial: bool = False,
) -> tuple[QueryResult, str]:
    """Run ``sql`` and say where: ``local`` (file opened read-only) or ``store`` (over NATS)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"--limit must be between 1 and {MAX_LIMIT:,}")
    async with open_store(db, url, subjects, partial=partial) as store:
        return await store.query(sql, limit=limit, timeout_s=timeout_s), store.where


@contextlib.asynccontextmanager
async def open_runner(
    db: Path | Sequence[Path] | None,
    url: str | None,
    subjects: Subjects,
    timeout_s: float = 60.0,
    *,
    bot: str | None = None,
    partial: bool = False,
) -> AsyncIterator[Callable[[str], Awaitable[list[list[Any]]]]]:
    """A function running many read-only queries, each returning all of its rows."""
    async with open_store(db, url, subjects, bot=bot, partial=partial) as store:

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


_CONTROL = {c: repr(chr(c))[1:-1] for c in [*range(32), 127]}  # "\n" -> "\\n"


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
    # One line per row: control characters (a multi-line error message) are escaped.
    cells = [[_cell(v).translate(_CONTROL) for v in row] for row in result.rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(result.columns)]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
    ]
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    note = f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''}"
    note += ", more rows match)" if result.truncated else ")"
    return "\n".join([*lines, note]) + "\n"
