"""``tradewire serve store``: JetStream -> DuckDB, exactly once per event id."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import msgspec
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import APIError

from tradewire.consumers.auth import ADVISORY_SUBJECT, advisory_fields, audit, verify_request
from tradewire.consumers.runtime import (
    Acks,
    BatchHandler,
    Check,
    ConfigError,
    ConsumerService,
    ConsumerSettings,
    Delivery,
)
from tradewire.publisher import (
    StreamLimitError,
    apply_stream_limits,
    ensure_alerts_stream,
    ensure_replicas,
    stream_partitions,
)
from tradewire.schemas import AlertChange, Envelope, EventError, decode

from ._config import StoreConfig
from ._metrics import add_metrics
from ._partition import (
    StorePartition,
    discovery_subject,
    partition_subject,
    record_partition,
)
from ._responder import SqlResponder
from ._sql import QueryResult, SqlRequest
from ._writer import Problem, StoreWriter

__all__ = ["StoreService"]

log = logging.getLogger("tradewire.store")


class StoreService(ConsumerService):
    """One store process: a pull consumer, a DuckDB writer, health and the SQL responder."""

    name = "store"

    def __init__(self, config: StoreConfig) -> None:
        super().__init__(config)
        self.config = config
        self.writer: StoreWriter | None = None
        self._sql_subs: list[Subscription] = []
        self._sql: SqlResponder | None = None
        self.stored = 0
        self.duplicates = 0
        self.quarantined: Counter[str] = Counter()
        self.alerts_stored = 0
        self.alerts_malformed = 0
        self.write_failures = 0
        self.write_seconds = add_metrics(self)
        self.share = StorePartition(root=self.subjects.root)  # what this store holds
        self._stream_partitions = 0

    # -- batch handling --------------------------------------------------------------
    def _classify(
        self, batch: Sequence[Delivery]
    ) -> tuple[list[tuple[Envelope, Delivery]], list[tuple[Delivery, Problem]]]:
        good: list[tuple[Envelope, Delivery]] = []
        bad: list[tuple[Delivery, Problem]] = []
        parse = self.parse_subject
        size = self.config.max_event_size
        skew = self.config.max_future_s
        for d in batch:
            try:
                bot, kind = parse(d.subject)
                event = decode(
                    d.data,
                    max_size=size,
                    expect_bot=bot,
                    expect_kind=kind,
                    received_at=d.received_ns / 1e9,
                    max_future_s=skew,
                )
                good.append((event, d))
            except EventError as exc:
                bad.append((d, exc))
        return good, bad

    async def handle(self, batch: Sequence[Delivery]) -> Acks:
        """Store a batch in one transaction; ack only after COMMIT."""
        assert self.writer is not None
        good, bad = self._classify(batch)
        started = time.monotonic()
        try:
            result = await asyncio.to_thread(self.writer.write, good, bad)
        except Exception as exc:  # disk full, I/O error, a DuckDB bug: not the message's fault
            self.write_failures += 1
            self.health.checks["writes"] = Check(
                ok=False, severity="critical", details={"error": repr(exc)}
            )
            log.error("write of %d message(s) failed: %r", len(batch), exc)
            return await self._after_failure(batch, good, bad, exc)
        self.write_seconds.observe((), time.monotonic() - started)
        self.health.checks["writes"] = Check(ok=True)
        self.stored += result.inserted
        self.duplicates += result.duplicates
        self.quarantined.update(result.reasons)
        return Acks(ack=list(batch))

    async def _after_failure(
        self,
        batch: Sequence[Delivery],
        good: list[tuple[Envelope, Delivery]],
        bad: list[tuple[Delivery, Problem]],
        exc: Exception,
    ) -> Acks:
        """Redeliver later; messages that failed too often go to quarantine instead."""
        assert self.writer is not None
        limit = self.config.max_deliveries
        spent = [d for d in batch if d.num_delivered >= limit]
        if not spent:
            return Acks(nak=list(batch), nak_delay_s=2.0)
        reason = f"write failed {limit} times: {exc!r}"
        to_quarantine: list[tuple[Delivery, Problem]] = [(d, reason) for d in spent]
        to_quarantine += [(d, e) for d, e in bad if d.num_delivered < limit]
        try:
            result = await asyncio.to_thread(self.writer.write, [], to_quarantine)
        except Exception as again:
            log.error("quarantine write failed too: %r", again)
            return Acks(nak=list(batch), nak_delay_s=5.0)
        done = {d.stream_seq for d, _ in to_quarantine}
        self.quarantined.update(result.reasons)
        return Acks(
            ack=[d for d in batch if d.stream_seq in done],
            nak=[d for d in batch if d.stream_seq not in done],
            nak_delay_s=2.0,
        )

    async def handle_alerts(self, batch: Sequence[Delivery]) -> Acks:
        """Alert state changes into the ``alerts`` table, once per change id."""
        assert self.writer is not None
        changes: dict[str, tuple[AlertChange, Delivery]] = {}
        for d in batch:
            try:
                change = msgspec.json.decode(d.data, type=AlertChange)
            except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
                # Only our alerts service publishes here: this is a bug, not bad input.
                self.alerts_malformed += 1
                log.error("alert change at seq %d is malformed, skipped: %s", d.stream_seq, exc)
                continue
            if self.partition.owns(change.bot):  # another store keeps the others'
                changes.setdefault(change.id, (change, d))
        try:
            self.alerts_stored += await asyncio.to_thread(
                self.writer.write_alerts, list(changes.values())
            )
        except Exception as exc:
            log.error("write of %d alert change(s) failed: %r", len(changes), exc)
            return Acks(nak=list(batch), nak_delay_s=2.0)
        return Acks(ack=list(batch))

    def side_consumers(self) -> list[tuple[ConsumerSettings, BatchHandler]]:
        cfg = self.config
        settings = ConsumerSettings(
            stream=self.subjects.alerts_stream,
            durable=cfg.alerts_durable,
            filter_subject=self.subjects.alerts_wildcard,
            max_batch=1000,
            request_size=1000,
            max_wait_s=min(0.5, cfg.max_wait_s),
            ack_wait_s=cfg.ack_wait_s,
        )
        return [(settings, self.handle_alerts)]

    # -- SQL over NATS -----------------------------------------------------------------
    async def _on_sql(self, msg: Msg) -> None:
        """Read-only SQL on separate cursors; see ``_responder`` for the fences and streams.

        Each request (not the requests for a stream's further chunks) is audited with
        the caller's verified key, and refused when unsigned if ``sql_require_signed``.
        """
        assert self.nc is not None and self.writer is not None
        cfg = self.config
        if self._sql is None:
            self._sql = SqlResponder(
                self.nc,
                self.writer.con,
                row_limit=cfg.sql_row_limit,
                timeout_s=cfg.sql_timeout_s,
                chunk_prefix=f"{self.subjects.sql}.more",
            )
        verdict = verify_request(msg.subject, msg.headers, msg.data)
        try:
            sql: str | None = msgspec.json.decode(msg.data, type=SqlRequest).sql
        except (msgspec.DecodeError, msgspec.ValidationError):
            sql = None
        refused = cfg.sql_require_signed and not verdict.verified
        audit(
            "sql",
            verdict.signer,
            claimed=verdict.caller or None,
            signature=verdict.status,
            query=sql if sql is not None else msg.data[:200].decode(errors="replace"),
            refused="unsigned requests are refused here" if refused else None,
        )
        if refused:
            if msg.reply:
                error = (
                    f"refused: this store answers signed SQL requests only ({verdict.status}); "
                    "connect with an nkey seed (--nats-nkey-seed) to sign them"
                )
                await msg.respond(msgspec.json.encode(QueryResult(error=error)))
            return
        await self._sql.answer(msg)

    def _locked(self, write: Callable[..., None], *args: Any) -> None:
        """Run ``write(con, *args)`` on the writer's connection, between its batches."""
        assert self.writer is not None
        with self.writer.lock:
            write(self.writer.con, *args)

    async def _on_discovery(self, msg: Msg) -> None:
        if msg.reply:
            await msg.respond(msgspec.json.encode(self.share))

    async def _refuse_sql(self, msg: Msg) -> None:
        """A query on ``<root>.sql`` reaches every one of several stores: the first reply
        would be one partition's answer passed off as the fleet's."""
        if msg.reply:
            error = (
                f"the fleet is split among {self.partition.count} stores, each answering "
                f"for its share: a client must ask {discovery_subject(self.subjects)} "
                "first, as this version of tradewire sql does (docs/scaling.md)"
            )
            await msg.respond(msgspec.json.encode(QueryResult(error=error)))

    async def _on_advisory(self, msg: Msg) -> None:
        sub = self.subjects
        streams = (sub.events_stream, sub.alerts_stream)
        buckets = (f"KV_{sub.alerts_bucket}", f"KV_{sub.fleet_bucket}")
        fields = advisory_fields(msg.data, streams + buckets)
        if fields is not None:
            audit(fields.pop("action"), fields.pop("caller"), **fields)

    # -- health --------------------------------------------------------------------------
    async def refresh(self) -> None:
        consumer = self.consumer
        if consumer is not None:
            idle = time.monotonic() - consumer.last_activity
            self.health.checks["consumer"] = Check(
                ok=consumer.pending < self.config.lag_warn and idle < 30,
                details={
                    "lag": consumer.pending,
                    "stored": self.stored,
                    "duplicates": self.duplicates,
                    "quarantined": dict(self.quarantined),
                    "seconds_since_last_message_or_heartbeat": round(idle, 1),
                    "last_error": consumer.last_error,
                    "alerts_stored": self.alerts_stored,
                    "alerts_malformed": self.alerts_malformed,
                },
            )

    # -- lifecycle ------------------------------------------------------------------------
    async def prepare_streams(self) -> None:
        """The store owns the streams' limits, replicas and partitions: set them first."""
        assert self.nc is not None
        cfg = self.config
        try:
            before, after = await apply_stream_limits(self.nc, self.subjects, cfg.stream_limits())
        except StreamLimitError as exc:
            raise ConfigError(str(exc)) from None
        except APIError as exc:  # e.g. replicas > 1 on a server that is not clustered
            raise ConfigError(
                f"{self.subjects.events_stream}: the server refused the stream settings: "
                f"{exc.description or exc}"
            ) from None
        if after != before:
            log.warning(
                "%s limits set: max_age %ss, max_bytes %s, duplicate_window %ss, replicas %s, "
                "partitions %s",
                self.subjects.events_stream,
                after.max_age,
                after.max_bytes,
                after.duplicate_window,
                after.num_replicas,
                stream_partitions(after) or "none",
            )
        await ensure_alerts_stream(self.nc, self.subjects)
        if cfg.stream_replicas is not None:
            await ensure_replicas(self.nc, self.subjects.alerts_stream, cfg.stream_replicas)
        self._stream_partitions = stream_partitions(after)

    async def setup(self) -> None:
        assert self.nc is not None
        cfg = self.config
        try:
            self.writer = await asyncio.to_thread(StoreWriter, Path(cfg.db))
        except duckdb.IOException as exc:  # a directory, not DuckDB's, locked: not a bug
            raise ConfigError(f"db {cfg.db}: {exc}") from None
        self.share = StorePartition(
            root=self.subjects.root,
            index=self.partition.index,
            count=self.partition.count,
            stream_partitions=self._stream_partitions,
            db=Path(cfg.db).name,
        )
        await asyncio.to_thread(self._locked, record_partition, self.share, time.time())
        sql = self.subjects.sql
        if self.partition.partitioned:  # one of several: asked by partition, never as "the" store
            self._sql_subs.append(await self.nc.subscribe(sql, cb=self._refuse_sql))
            sql = partition_subject(self.subjects, self.partition.index)
        self._sql_subs.append(await self.nc.subscribe(sql, cb=self._on_sql))
        discovery = discovery_subject(self.subjects)
        self._sql_subs.append(await self.nc.subscribe(discovery, cb=self._on_discovery))
        if cfg.audit_jetstream:
            self._sql_subs.append(await self.nc.subscribe(ADVISORY_SUBJECT, cb=self._on_advisory))

    async def teardown(self) -> None:
        for sub in self._sql_subs:
            await sub.unsubscribe()
        if self._sql is not None:
            await self._sql.close()

    async def close(self) -> None:
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)
