"""The asyncio publisher: ``emit`` enqueues; a background task delivers to JetStream.

Where an event can be, in delivery order::

    in flight (sent, awaiting PubAck) < retry < ready (memory) < outbox (disk) < queue

``emit`` only stamps and appends to ``queue``. The background task encodes and
validates queued events, puts them in ``ready`` while memory allows and in the
outbox after that (and for as long as the outbox holds anything, so order is
kept), and keeps up to ``max_in_flight`` of them published with a reply inbox
and ``Nats-Msg-Id`` = event id. One subscription callback takes the acks.
Anything not acked in ``ack_timeout_s``, acked with an error, or in flight
during a reconnect is sent again with the same id; JetStream's duplicate
window turns a repeat into ``duplicate: true`` instead of a second copy.

A publish the server refuses for permissions gets no PubAck: the server answers
with an asynchronous ``-ERR 'Permissions Violation for Publish to <subject>'``.
Retrying cannot help (the credential may not publish as this bot), so the events in
flight on that subject, and those sent there for the next ``REFUSAL_HOLD_S``, are
dropped and counted as ``refused`` (logged once per subject, with the reason) and
kept out of the outbox; after the hold the subject is tried again, in case the
server's permissions were fixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import threading
import time
from collections import deque
from typing import Any, TypeVar

import nats
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from tradewire.schemas import (
    KIND_OF,
    Envelope,
    EventError,
    Heartbeat,
    Lifecycle,
    Subjects,
    encode,
)

from ._auth import NatsAuth
from ._config import PublisherConfig, default_outbox_dir, server_urls
from ._emitter import Emitter
from ._outbox import Outbox, OutboxItem
from ._process import ProcessSampler
from ._stamp import Stamper
from ._stats import PublisherStats
from ._wire import has_fast_path, send_window

__all__ = ["Publisher", "PublisherClosedError"]

log = logging.getLogger("tradewire.publisher")
E = TypeVar("E", bound=Envelope)

_TICK_S = 0.1
_LOAD_CHUNK = 1000
_WINDOW = 500  # events framed into one write
REFUSAL_HOLD_S = 60.0  # a subject the server refused is not tried again for this long
# nats-py hands the server's -ERR to error_cb lower-cased.
_REFUSED = re.compile(r'permissions violation for (publish|subscription) to "([^"]+)"', re.I)


class PublisherClosedError(RuntimeError):
    """``emit`` after ``close()``."""


class Publisher(Emitter):
    """Publish one bot's events; use ``async with Publisher("bot-1") as tel:``."""

    def __init__(self, bot: str, config: PublisherConfig | None = None, **overrides: Any):
        self._stamper = Stamper(bot)
        cfg = config or PublisherConfig()
        self.config = dataclasses.replace(cfg, **overrides) if overrides else cfg
        self.subjects = Subjects(self.config.root)
        # One bot, so one subject per kind: computed once, not per event.
        self._subject_of = {t: self.subjects.event(bot, k) for t, k in KIND_OF.items()}
        self._queue: deque[Envelope] = deque()
        self._ready: deque[OutboxItem] = deque()
        self._retry: deque[OutboxItem] = deque()
        self._inflight: dict[str, OutboxItem] = {}
        self._outbox: Outbox | None = None
        self._nc: Client | None = None
        self._inbox = ""
        self._fast = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._wake_event = asyncio.Event()
        self._idle = False
        self._closing = False
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._started_at = time.monotonic()
        self._emitted = self._acked = self._dropped = self._rejected = self._retries = 0
        self._refused = 0
        # Subject -> monotonic time until which its events are dropped (see the module doc).
        self._refused_until: dict[str, float] = {}
        self._refusal_logged: set[str] = set()
        self._last_error = ""
        self._last_log: dict[str, float] = {}
        self._sampler: ProcessSampler | None = None

    # -- the bot's side --------------------------------------------------------
    def emit(self, event: E) -> E:
        """Stamp the envelope and enqueue; never blocks on the network. Thread-safe."""
        if self._closing:
            raise PublisherClosedError(f"publisher for {self.bot} is closed")
        stamper = self._stamper
        with stamper.lock:
            stamper.stamp(event)
            self._queue.append(event)
            self._emitted += 1
        if self._idle:
            self._idle = False
            self._wake()
        return event

    def forward(self, event: E) -> E:
        """Enqueue an event whose envelope is already set, e.g. by an importer.

        Same delivery guarantees as :meth:`emit`; the event keeps its id, run, seq and
        ts, so re-sending it later is deduplicated downstream. Its ``bot`` must be this
        publisher's (the subject is built from it).
        """
        if self._closing:
            raise PublisherClosedError(f"publisher for {self.bot} is closed")
        if event.bot != self.bot:
            raise ValueError(f"event bot {event.bot!r} is not this publisher's {self.bot!r}")
        # emit() minus the stamp, kept inline: emit is the bot's hot path.
        with self._stamper.lock:
            self._queue.append(event)
            self._emitted += 1
        if self._idle:
            self._idle = False
            self._wake()
        return event

    def stats(self) -> PublisherStats:
        outbox = self._outbox
        return PublisherStats(
            emitted=self._emitted,
            acked=self._acked,
            # Events read back from disk are counted by the outbox, not here.
            buffered=len(self._queue)
            + sum(
                i.segment is None for i in (*self._ready, *self._retry, *self._inflight.values())
            ),
            in_outbox=outbox.pending if outbox else 0,
            dropped=self._dropped,
            rejected=self._rejected,
            refused=self._refused,
            retries=self._retries,
            outbox_corrupt=outbox.corrupt if outbox else 0,
            connected=bool(self._nc and self._nc.is_connected),
            last_error=self._last_error,
        )

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> Publisher:
        """Open the outbox and start delivering; returns at once even if NATS is down."""
        if self._tasks:
            return self
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        directory = self.config.outbox_dir or default_outbox_dir(self.bot)
        self._outbox = Outbox(
            directory,
            max_bytes=self.config.max_outbox_bytes,
            segment_bytes=self.config.outbox_segment_bytes,
            fsync=self.config.outbox_fsync,
        )
        if self._outbox.pending:
            log.info("%s: replaying %d event(s) from %s", self.bot, self._outbox.pending, directory)
        if self.config.process_stats:
            self._sampler = ProcessSampler(directory)
        if self.config.lifecycle_events:
            self.emit(Lifecycle(state="started", version=self.config.version, pid=os.getpid()))
        self._tasks = [
            asyncio.create_task(self._connect(), name=f"tradewire-connect-{self.bot}"),
            asyncio.create_task(self._deliver(), name=f"tradewire-deliver-{self.bot}"),
        ]
        return self

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything emitted so far (and the outbox) is acked."""
        deadline = time.monotonic() + timeout
        while True:
            if not (self._queue or self._ready or self._retry or self._inflight) and not (
                self._outbox and self._outbox.pending
            ):
                return True
            if time.monotonic() >= deadline:
                return False
            self._wake()
            await asyncio.sleep(0.005)

    async def close(self, timeout: float = 5.0) -> PublisherStats:
        """Flush for up to ``timeout`` s, then leave whatever is un-acked in the outbox."""
        if self._closing:
            return self.stats()
        if self._tasks and self.config.lifecycle_events:
            self.emit(Lifecycle(state="stopped", version=self.config.version))
        self._closing = True
        if self._tasks:
            await self.flush(timeout)
            # A stop flag for delivery, not cancel(): 3.11's wait_for can swallow
            # a cancellation. The connect loop only sleeps, so cancelling it is safe.
            self._stopping = True
            self._wake()
            self._tasks[0].cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._outbox is not None:
            # Memory-held events are older than anything on disk; events that came
            # from disk are still in their segments, so they are not written twice.
            now = time.monotonic()
            held = self._held if self._refused_until else lambda item, now: False
            older = [
                i
                for i in (*self._inflight.values(), *self._retry, *self._ready)
                if not held(i, now) and i.segment is None
            ]
            self._count_drops(self._outbox.prepend(older))
            queued = [i for i in self._encode_queue() if not held(i, now)]
            self._count_drops(self._outbox.append(queued))
            self._inflight.clear()
            self._retry.clear()
            self._ready.clear()
            self._outbox.close()
        if self._nc is not None and not self._nc.is_closed:
            try:
                await self._nc.close()
            except Exception as exc:  # closing a broken connection must not raise
                log.debug("%s: close: %s", self.bot, exc)
        stats = self.stats()
        if stats.in_outbox:
            log.warning("%s: closed with %d event(s) left in the outbox", self.bot, stats.in_outbox)
        return stats

    async def __aenter__(self) -> Publisher:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- background ------------------------------------------------------------
    def _wake(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._wake_event.set()
        else:
            loop.call_soon_threadsafe(self._wake_event.set)

    def _note_error(self, key: str, message: str) -> None:
        """Keep the latest error for stats(); log each kind at most every 10 s."""
        self._last_error = message
        now = time.monotonic()
        if now - self._last_log.get(key, -1e9) >= 10.0:
            self._last_log[key] = now
            log.warning("%s: %s", self.bot, message)

    def _count_drops(self, dropped: int) -> None:
        if dropped:
            self._dropped += dropped
            self._note_error(
                "dropped",
                f"outbox full or unwritable (cap {self.config.max_outbox_bytes} bytes): "
                f"dropped {dropped} event(s), {self._dropped} in all",
            )

    async def _connect(self) -> None:
        delay = 0.05
        auth = self.config.auth or NatsAuth()
        try:
            auth.check()
            options = auth.connect_options()
        except (ValueError, OSError) as exc:
            # A credential that cannot be read will not become readable by retrying
            # often; events keep going to the outbox meanwhile.
            self._last_error = f"cannot connect: {exc} (not retried)"
            log.error("%s: %s", self.bot, self._last_error)
            return
        while not self._stopping:
            try:
                nc = await nats.connect(
                    server_urls(self.config.url),
                    name=self.config.name or f"tradewire-publisher-{self.bot}",
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    # Subjects are built from validated tokens; skip re-checking each.
                    skip_subject_validation=True,
                    reconnected_cb=self._on_reconnected,
                    disconnected_cb=self._on_disconnected,
                    error_cb=self._on_error,
                    **options,
                )
            except (OSError, nats.errors.Error) as exc:  # the network or the server: retry
                self._note_error("connect", f"cannot connect to {self.config.url}: {exc!r}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            except Exception as exc:
                # A bug or an incompatible nats-py (e.g. a TypeError for an unknown
                # option): retrying cannot help, and must not pass for a network outage.
                # Events keep going to the outbox, so nothing is lost meanwhile.
                self._last_error = f"cannot run: {exc!r} (not a network error; not retried)"
                log.error("%s: %s", self.bot, self._last_error, exc_info=exc)
                return
            self._inbox = nc.new_inbox() + "."
            await nc.subscribe(self._inbox + "*", cb=self._on_ack)
            self._fast = self.config.fast_path and has_fast_path(nc)
            self._nc = nc
            self._wake()
            return
        self._note_error("connect", f"gave up connecting to {self.config.url}: closing")

    async def _on_reconnected(self) -> None:
        # Acks for what was in flight may be lost; send it all again (same ids).
        for item in self._inflight.values():
            item.not_before = 0.0
            self._retry.append(item)
            self._retries += 1
        self._inflight.clear()
        self._wake()

    async def _on_disconnected(self) -> None:
        if not self._closing:
            self._note_error("disconnected", f"disconnected from {self.config.url}")

    async def _on_error(self, exc: Exception) -> None:
        match = _REFUSED.search(str(exc))
        if match and match.group(1).lower() == "publish":
            self._on_refused(match.group(2))
            return
        if match:  # the subscription for PubAcks: nothing can be confirmed
            self._note_error(
                "inbox",
                f"the server refuses the PubAck inbox {match.group(2)}: events cannot be "
                "confirmed and are re-sent; the credential's permissions or "
                "inbox_prefix are wrong",
            )
            return
        self._note_error("nats", f"nats: {exc!r}")

    def _on_refused(self, refused: str) -> None:
        """Drop what is in flight on a subject the server refused (see the module doc)."""
        subject = next((s for s in self._subject_of.values() if s.lower() == refused.lower()), None)
        if subject is None:
            self._note_error("nats", f"the server refused a publish to {refused}")
            return
        self._refused_until[subject] = time.monotonic() + REFUSAL_HOLD_S
        gone = [i for i in self._inflight.values() if i.subject == subject]
        for item in gone:
            del self._inflight[item.id]
            self._drop_refused(item)
        self._last_error = f"NATS refused publishing on {subject}: permissions violation"
        if subject not in self._refusal_logged:
            self._refusal_logged.add(subject)
            log.error(
                "%s: NATS refused publishing on %s (permissions violation): its events are "
                "dropped and counted as refused, not retried; check that the bot's "
                "credential is this bot's (%s)",
                self.bot,
                subject,
                self.subjects.event(self.bot, "*"),
            )
        self._wake()

    def _drop_refused(self, item: OutboxItem) -> None:
        self._refused += 1
        if item.segment is not None and self._outbox is not None:
            self._outbox.acked(item.segment)  # consumed: never replayed

    def _held(self, item: OutboxItem, now: float) -> bool:
        """Whether ``item``'s subject is refused now; if so it is dropped here."""
        until = self._refused_until.get(item.subject)
        if until is None:
            return False
        if now >= until:
            del self._refused_until[item.subject]
            return False
        self._drop_refused(item)
        return True

    async def _on_ack(self, msg: Msg) -> None:
        item = self._inflight.pop(msg.subject[len(self._inbox) :], None)
        if item is None:
            return  # a late ack for an event already re-sent, or already acked
        data = msg.data
        if not data or b'"error"' in data:
            # An API error, or a 503 status (no stream listens on the subject).
            detail = data.decode(errors="replace") if data else str(msg.headers)
            self._note_error("ack", f"JetStream refused {item.id}: {detail}")
            item.attempts += 1
            item.not_before = time.monotonic() + min(
                0.1 * 2**item.attempts, self.config.retry_backoff_max_s
            )
            self._retry.append(item)
            self._retries += 1
        else:
            self._acked += 1
            if item.segment is not None and self._outbox is not None:
                self._outbox.acked(item.segment)
        if self._idle:
            self._idle = False
            self._wake_event.set()

    def _encode_queue(self) -> list[OutboxItem]:
        """Encode and validate what ``emit`` queued; invalid events are rejected here."""
        items: list[OutboxItem] = []
        queue = self._queue
        subject_of = self._subject_of
        max_size = self.config.max_event_size
        while queue:
            event = queue.popleft()
            try:
                data = encode(event, max_size=max_size)
            except EventError as exc:
                self._rejected += 1
                self._note_error("rejected", f"rejected {type(event).__name__} {event.id}: {exc}")
                continue
            items.append(OutboxItem(subject_of[type(event)], event.id, data))
        return items

    def _route(self) -> None:
        """Move queued events to memory while it has room, else to the outbox."""
        if not self._queue:
            return
        items = self._encode_queue()
        outbox = self._outbox
        assert outbox is not None
        room = self.config.max_memory_events - len(self._ready) - len(self._inflight)
        if outbox.has_unread:
            room = 0
        if room > 0:
            self._ready.extend(items[:room])
            items = items[room:]
        if items:
            self._count_drops(outbox.append(items))

    def _next_item(self, now: float) -> OutboxItem | None:
        if self._retry and self._retry[0].not_before <= now:
            return self._retry.popleft()
        if not self._ready and self._outbox is not None and self._outbox.has_unread:
            self._ready.extend(self._outbox.load(_LOAD_CHUNK))
        return self._ready.popleft() if self._ready else None

    async def _send(self) -> None:
        nc = self._nc
        if nc is None:
            return
        inflight = self._inflight
        limit = self.config.max_in_flight
        now = time.monotonic()
        while len(inflight) < limit and nc.is_connected:
            batch: list[OutboxItem] = []
            room = min(limit - len(inflight), _WINDOW)
            while len(batch) < room:
                item = self._next_item(now)
                if item is None:
                    break
                if self._refused_until and self._held(item, now):
                    continue
                item.sent_at = now
                batch.append(item)
            if not batch:
                return
            # In flight before the send: an ack can arrive while send awaits.
            for item in batch:
                inflight[item.id] = item
            try:
                await send_window(nc, batch, self._inbox, self._fast)
            except Exception as exc:
                for item in batch:
                    inflight.pop(item.id, None)
                self._retry.extendleft(reversed(batch))
                self._note_error("publish", f"publish failed: {exc!r}")
                return

    def _expire(self, now: float) -> None:
        """Re-send what waited longer than ``ack_timeout_s`` (oldest first, in send order)."""
        timeout = self.config.ack_timeout_s
        inflight = self._inflight
        while inflight:
            key = next(iter(inflight))
            item = inflight[key]
            if now - item.sent_at < timeout:
                return
            del inflight[key]
            self._retry.append(item)
            self._retries += 1

    async def _deliver(self) -> None:
        interval = self.config.heartbeat_interval_s
        next_heartbeat = time.monotonic()
        next_expire = 0.0
        while not self._stopping:
            now = time.monotonic()
            if interval and now >= next_heartbeat and not self._closing:
                next_heartbeat = now + interval
                self._heartbeat(now)
            self._route()
            await self._send()
            if now >= next_expire:
                next_expire = now + 0.25
                self._expire(now)
            if self._queue:
                await asyncio.sleep(0)
                continue
            self._idle = True
            if self._queue:  # emitted between the check above and setting idle
                self._idle = False
                continue
            self._wake_event.clear()
            await self._sleep(_TICK_S)
            self._idle = False

    def _heartbeat(self, now: float) -> None:
        """The timer's heartbeat, with the process's vital signs when sampling is on."""
        process = dataclasses.asdict(self._sampler.sample()) if self._sampler else {}
        self.emit(
            Heartbeat(
                uptime_s=now - self._started_at,
                version=self.config.version,
                profile=self.config.profile,
                **process,
            )
        )

    async def _sleep(self, seconds: float) -> None:
        """Sleep until woken (emit, ack, close) or ``seconds`` pass."""
        if self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake_event.wait()
