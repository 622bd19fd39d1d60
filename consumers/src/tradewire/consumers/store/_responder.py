"""The store's answer on ``<root>.sql``: one read-only query per request, or a stream.

A plain request gets one reply, cut at the row limit and at what fits in one NATS
message. A ``stream`` request gets every row in chunks: the first chunk answers the
request and names a subject (``<root>.sql.more.<random>``, so the same permission that
lets a client ask lets it ask for more); each request there brings the next chunk,
until one says ``more: false``. The chunks come from one cursor in one read-only
transaction, so they are one consistent snapshot of the store, while the writer keeps
appending. A stream the client stops asking for is closed after ``STREAM_IDLE_S``.

Every query runs on its own cursor of the store's connection (DuckDB gives each cursor
its own transaction, so the rollback never touches the writer's), in a worker thread,
and is interrupted when its time budget runs out: the client's ``timeout_s``, capped by
the store's ``sql_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

import duckdb
import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from ._sql import MAX_LIMIT, QueryError, QueryResult, ReadOnlyQuery, SqlRequest, run_query

__all__ = ["MAX_REPLY", "MAX_STREAMS", "STREAM_IDLE_S", "SqlResponder"]

log = logging.getLogger("tradewire.store")
MAX_REPLY = 900_000  # below NATS's default 1 MiB payload limit
_CHUNK_BYTES = 256_000  # a stream chunk aims at this size
MAX_STREAMS = 4  # open streams at once; more are refused with "busy"
STREAM_IDLE_S = 60.0  # a stream nobody asks for the next chunk of is closed
_STOP = b"stop"


def _encode(result: QueryResult) -> bytes:
    return msgspec.json.encode(result, enc_hook=str)


class _Stream:
    """One streamed query: its cursor, the rows fetched but not sent yet, its subject."""

    def __init__(self, query: ReadOnlyQuery, subject: str) -> None:
        self.query = query
        self.subject = subject
        self.pending: list[list[Any]] = []
        self.done = False  # the cursor has no more rows

    def next_chunk(self) -> QueryResult:
        """Rows up to about ``_CHUNK_BYTES`` (at least one); runs in a worker thread."""
        rows: list[list[Any]] = []
        size = 0
        while size < _CHUNK_BYTES:
            if not self.pending:
                if self.done:
                    break
                self.pending = self.query.fetch(2048)
                self.pending.reverse()  # pop() from the end keeps the order
                self.done = not self.pending
                continue
            row = self.pending[-1]
            row_size = len(msgspec.json.encode(row, enc_hook=str)) + 1
            if row_size > MAX_REPLY - 10_000:
                raise QueryError(f"a row of {row_size:,} bytes does not fit in one NATS message")
            if rows and size + row_size > MAX_REPLY - 10_000:
                break
            rows.append(self.pending.pop())
            size += row_size
        more = bool(self.pending) or not self.done
        return QueryResult(
            columns=self.query.columns,
            types=self.query.types,
            rows=rows,
            more=more,
            next=self.subject if more else "",
        )


class SqlResponder:
    """Answers SQL requests against ``con`` (the store's connection) on ``nc``."""

    def __init__(
        self,
        nc: Client,
        con: duckdb.DuckDBPyConnection,
        *,
        row_limit: int,
        timeout_s: float,
        chunk_prefix: str = "tradewire.sql.more",
    ) -> None:
        self.nc = nc
        self.chunk_prefix = chunk_prefix
        self.con = con
        self.row_limit = row_limit
        self.timeout_s = timeout_s
        self._running: set[ReadOnlyQuery] = set()
        self._streams: set[asyncio.Task[None]] = set()

    def _budget(self, req: SqlRequest) -> float:
        if req.timeout_s < 0 or req.timeout_s != req.timeout_s:
            raise QueryError("timeout_s must be >= 0")
        return min(req.timeout_s or self.timeout_s, self.timeout_s)

    async def answer(self, msg: Msg) -> None:
        try:
            req = msgspec.json.decode(msg.data, type=SqlRequest)
            timeout_s = self._budget(req)
            if req.stream:
                await self._open_stream(msg, req.sql, timeout_s)
                return
            if not 1 <= req.limit <= MAX_LIMIT:
                raise QueryError(f"limit must be between 1 and {MAX_LIMIT:,}")
            result = await asyncio.to_thread(
                self._run, req.sql, min(req.limit, self.row_limit), timeout_s
            )
        except (QueryError, msgspec.ValidationError, msgspec.DecodeError) as exc:
            result = QueryResult(error=str(exc))
        data = _encode(result)
        while len(data) > MAX_REPLY and result.rows:  # cut to fit one message; say so
            result.rows = result.rows[: len(result.rows) // 2]
            result.truncated = True
            data = _encode(result)
        if msg.reply:
            await msg.respond(data)

    def _run(self, sql: str, limit: int, timeout_s: float) -> QueryResult:
        cursor = self.con.cursor()
        try:
            return run_query(cursor, sql, limit=limit, timeout_s=timeout_s, running=self._running)
        finally:
            cursor.close()

    # -- streams ---------------------------------------------------------------------------
    async def _open_stream(self, msg: Msg, sql: str, timeout_s: float) -> None:
        if len(self._streams) >= MAX_STREAMS:
            raise QueryError(f"busy: {MAX_STREAMS} streamed queries are open; try again soon")
        subject = f"{self.chunk_prefix}.{secrets.token_hex(11)}"
        cursor = self.con.cursor()
        query = ReadOnlyQuery(cursor, sql, timeout_s)
        stream = _Stream(query, subject)
        self._running.add(query)
        try:
            await asyncio.to_thread(query.start)
            first = await asyncio.to_thread(stream.next_chunk)
            sub = await self.nc.subscribe(subject) if first.more else None
        except BaseException:
            await asyncio.to_thread(self._end, query)
            raise
        if sub is None:
            await asyncio.to_thread(self._end, query)
        else:  # served from now on; ends by itself if the client never asks
            task = asyncio.create_task(self._serve(stream, sub))
            self._streams.add(task)
            task.add_done_callback(self._streams.discard)
        if msg.reply:
            await msg.respond(_encode(first))

    async def _serve(self, stream: _Stream, sub: Subscription) -> None:
        try:
            while True:
                try:
                    ask = await sub.next_msg(timeout=STREAM_IDLE_S)
                except nats.errors.TimeoutError:
                    log.info("sql stream %s idle for %gs: closed", stream.subject, STREAM_IDLE_S)
                    return
                if ask.data == _STOP:
                    return
                try:
                    chunk = await asyncio.to_thread(stream.next_chunk)
                except QueryError as exc:
                    chunk = QueryResult(error=str(exc))
                await ask.respond(_encode(chunk))
                if not chunk.more:
                    return
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
                # Flushed, so the server has dropped the inbox before the stream counts
                # as closed: a late ask gets "no responders" at once, not a timeout.
                await self.nc.flush(timeout=2)
            await asyncio.to_thread(self._end, stream.query)

    def _end(self, query: ReadOnlyQuery) -> None:
        self._running.discard(query)
        query.close()
        query.con.close()

    async def close(self) -> None:
        """Interrupt what runs and end every stream (before the connection checkpoints)."""
        for query in list(self._running):
            query.interrupt()
        for task in list(self._streams):
            task.cancel()
        await asyncio.gather(*self._streams, return_exceptions=True)
        # A query whose caller was cancelled still ends in its worker thread: wait for it
        # (interrupted, that is quick) so no transaction is open when the store checkpoints.
        for _ in range(100):
            if not self._running:
                return
            await asyncio.sleep(0.05)
        log.warning("%d sql quer(y/ies) still running at shutdown", len(self._running))
