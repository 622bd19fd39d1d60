"""A durable JetStream pull consumer driven by a subscription callback.

nats-py's ``fetch()`` awaits each message with ``wait_for`` and tops out near
25k msg/s here; a callback on our own inbox receiving replies to hand-written
``$JS.API.CONSUMER.MSG.NEXT`` requests runs several times faster (see
``benchmarks/``). What the hand-driven pull has to handle itself:

- status messages: 100 (idle heartbeat), 404/408 (request ended with nothing
  or partially filled: its remaining credit is released), 409 (consumer
  changed, too many waiting requests: credit reset, re-requested);
- lost requests (server restart, reconnect, a cluster node that led the
  consumer killed): every request expires, and credit whose request has expired
  is released on a timer, so a stalled consumer always asks again; sooner than
  that, credit is dropped after a reconnect and when neither a message nor an
  idle heartbeat came for two heartbeat intervals (the request is gone);
- redelivery: a message not acked within ``ack_wait_s`` comes back with a
  higher ``num_delivered``, which the handler sees; while a batch takes longer
  than a third of ``ack_wait_s``, ``+WPI`` (in progress) goes out every third for
  it and for what waits in the buffer, so slow work is not redelivered under it.

Messages are handed to the handler in batches bounded by count and by time, so
a quiet fleet's events still land within ``max_wait_s``. Acks are sent only
after the handler returns, as one framed write.

A handler turns every failure it expects into its :class:`Acks` (naks with a delay,
quarantine). An exception that escapes it is a bug: the batch is handed back at
once and :meth:`PullConsumer.run` raises, so the service stops being ready and exits
non-zero instead of retrying a bug forever while it reports ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ._delivery import Delivery, parse_ack_subject
from ._families import Histogram

__all__ = ["Acks", "BatchHandler", "ConsumerSettings", "PullConsumer"]

log = logging.getLogger("tradewire.consumers.runtime")

_ACK = b"+ACK"
_IN_PROGRESS = b"+WPI"
# Seconds a batch takes to handle, acks not included.
BATCH_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True, kw_only=True)
class ConsumerSettings:
    """Batching and flow-control knobs of one durable consumer."""

    stream: str
    durable: str
    filter_subject: str
    # Several filters instead (one instance's partitions of the events stream); they win.
    filter_subjects: tuple[str, ...] = ()
    max_batch: int = 5000  # messages handed to the handler at once
    max_wait_s: float = 0.5  # a partial batch is handled after this long
    request_size: int = 1000  # messages per pull request
    request_expires_s: float = 5.0
    ack_wait_s: float = 30.0
    max_ack_pending: int = 20_000
    heartbeat_s: float = 2.0
    # A new durable starts at the stream's end instead of its beginning (metrics: no
    # replay of history); an existing one resumes after its last ack either way.
    deliver_new: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.request_size <= self.max_batch <= self.max_ack_pending:
            raise ValueError("need 1 <= request_size <= max_batch <= max_ack_pending")
        if not 0 < self.max_wait_s < self.ack_wait_s:
            raise ValueError("need 0 < max_wait_s < ack_wait_s")


@dataclass
class Acks:
    """The handler's verdict on a batch: ack these, redeliver those after a delay."""

    ack: list[Delivery] = field(default_factory=list)
    nak: list[Delivery] = field(default_factory=list)
    nak_delay_s: float = 1.0


BatchHandler = Callable[[Sequence[Delivery]], Awaitable[Acks]]


class PullConsumer:
    """Pull from one durable consumer and feed batches to ``handler`` until ``stop()``."""

    def __init__(self, nc: Client, settings: ConsumerSettings, handler: BatchHandler) -> None:
        self.nc = nc
        self.settings = settings
        self.handler = handler
        self._buffer: list[Delivery] = []
        self._first_at = 0.0
        self._requests: deque[list[float]] = deque()  # [expires_at, remaining credit]
        self._inbox = ""
        self._reconnects = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self.last_activity = time.monotonic()
        self.pending = 0  # from the last delivery's metadata: the consumer's lag
        # Counts since start, exported as the pipeline metrics (messages unless named).
        self.handled = 0  # acked
        self.naked = 0
        self.redelivered = 0  # arrived with num_delivered > 1
        self.batches = 0
        self.in_progress = 0  # +WPI sent
        self.ack_failures = 0  # acks, naks or +WPI that could not be written
        self.batch_seconds = Histogram(BATCH_BUCKETS)
        self._last_error = ""
        self.last_error_at = 0.0  # time.time() of the last error; 0: none yet

    @property
    def last_error(self) -> str:
        return self._last_error

    @last_error.setter
    def last_error(self, text: str) -> None:
        self._last_error = text
        self.last_error_at = time.time()

    @property
    def _next_subject(self) -> str:
        s = self.settings
        return f"$JS.API.CONSUMER.MSG.NEXT.{s.stream}.{s.durable}"

    async def ensure(self) -> None:
        """Create the durable consumer, or update it to these settings."""
        s = self.settings
        config = ConsumerConfig(
            durable_name=s.durable,
            deliver_policy=DeliverPolicy.NEW if s.deliver_new else DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=s.ack_wait_s,
            max_ack_pending=s.max_ack_pending,
            filter_subject=None if s.filter_subjects else s.filter_subject,
            filter_subjects=list(s.filter_subjects) or None,
            max_waiting=512,
        )
        # Creating a durable that exists updates it (the editable fields) on the server.
        await self.nc.jetstream().add_consumer(s.stream, config)

    async def run(self) -> None:
        """Pull and handle until :meth:`stop`; the batch in hand is finished first."""
        self._inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(self._inbox, cb=self._on_msg)
        try:
            while not self._stopping:
                await self._request_more()
                batch = self._take_batch()
                if batch:
                    await self._handle(batch)
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._wait_time()):
                        await self._wake.wait()
            while batch := self._take_batch(force=True):  # everything already received
                await self._handle(batch)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    # -- receiving ------------------------------------------------------------------
    async def _on_msg(self, msg: Msg) -> None:
        self.last_activity = time.monotonic()
        headers = msg.headers
        # The server's status messages have no reply subject; a delivery always has one
        # (its ack subject), whatever headers a publisher put on it.
        if headers and not msg.reply and not msg.data and "Status" in headers:
            self._on_status(headers)
            return
        meta = parse_ack_subject(msg.reply)
        if meta is None:
            log.warning("ignoring a non-JetStream message on %s", msg.subject)
            return
        delivered, sseq, ts_ns, pending = meta
        self._consume_credit()
        if not self._buffer:
            self._first_at = time.monotonic()
        self._buffer.append(
            Delivery(msg.subject, msg.data, msg.reply, sseq, delivered, ts_ns, pending)
        )
        self.pending = pending
        if len(self._buffer) >= self.settings.max_batch:
            self._wake.set()

    def _on_status(self, headers: dict[str, str]) -> None:
        status = headers.get("Status", "")
        if status == "100":
            return  # idle heartbeat: the request is alive
        if status in ("404", "408"):
            # The oldest request ended (no messages, or expired part-filled).
            if self._requests:
                self._requests.popleft()
        else:
            # 409 and others: consumer deleted or changed, too many waiting, ...
            self.last_error = f"pull status {status} {headers.get('Description', '')}".strip()
            log.warning("%s: %s", self.settings.durable, self.last_error)
            self._requests.clear()
        self._wake.set()

    def _consume_credit(self) -> None:
        while self._requests and self._requests[0][1] <= 0:
            self._requests.popleft()
        if self._requests:
            self._requests[0][1] -= 1

    async def _request_more(self) -> None:
        now = time.monotonic()
        s = self.settings
        # Requests past their expiry (plus slack) are gone, answered or not.
        while self._requests and self._requests[0][0] + 1.0 < now:
            self._requests.popleft()
        reconnects = self.nc.stats["reconnects"]
        silent = now - self.last_activity > 2 * s.heartbeat_s + 0.5
        if self._requests and (reconnects != self._reconnects or silent):
            self._requests.clear()  # asked of a server (or consumer leader) no longer there
        self._reconnects = reconnects
        credit = sum(r[1] for r in self._requests)
        room = s.max_batch * 2 - len(self._buffer) - credit
        while room >= s.request_size and self.nc.is_connected:
            body = json.dumps(
                {
                    "batch": s.request_size,
                    "expires": int(s.request_expires_s * 1e9),
                    "idle_heartbeat": int(s.heartbeat_s * 1e9),
                }
            ).encode()
            try:
                await self.nc.publish(self._next_subject, body, reply=self._inbox)
            except Exception as exc:
                self.last_error = f"pull request failed: {exc!r}"
                return
            self._requests.append([now + s.request_expires_s, float(s.request_size)])
            room -= s.request_size

    def _wait_time(self) -> float:
        if self._buffer:
            return max(0.0, self._first_at + self.settings.max_wait_s - time.monotonic())
        return min(self.settings.max_wait_s, 0.25)

    def _take_batch(self, force: bool = False) -> list[Delivery]:
        buf = self._buffer
        if not buf:
            return []
        full = len(buf) >= self.settings.max_batch
        due = time.monotonic() - self._first_at >= self.settings.max_wait_s
        if not (full or due or force):
            return []
        batch = buf[: self.settings.max_batch]
        self._buffer = buf[self.settings.max_batch :]
        self._first_at = time.monotonic()
        return batch

    # -- handling -------------------------------------------------------------------
    async def _handle(self, batch: list[Delivery]) -> None:
        self.redelivered += sum(d.num_delivered > 1 for d in batch)
        started = time.monotonic()
        work = asyncio.ensure_future(self.handler(batch))
        try:
            verdict = await self._while_in_progress(work, batch)
        except asyncio.CancelledError:
            work.cancel()  # shutdown ran out of time; nothing acked: all comes back
            raise
        except Exception as exc:
            self.last_error = f"batch handler failed: {exc!r}"
            await self._send_acks(Acks(nak=batch, nak_delay_s=0.0))  # hand it back now
            raise
        finally:
            self.batch_seconds.observe(time.monotonic() - started)
        await self._send_acks(verdict)
        self.batches += 1

    async def _while_in_progress(self, work: asyncio.Future[Acks], batch: list[Delivery]) -> Acks:
        """Wait for the handler; every third of ack_wait, tell the server it is in progress
        (for the batch, and for what waits behind it in the buffer)."""
        every = self.settings.ack_wait_s / 3
        while True:
            done, _ = await asyncio.wait({work}, timeout=every)
            if done:
                return work.result()
            held = [*batch, *self._buffer]
            if await self._send({_IN_PROGRESS: held}):
                self.in_progress += len(held)

    async def _send_acks(self, verdict: Acks) -> None:
        nak = b'-NAK {"delay": %d}' % int(verdict.nak_delay_s * 1e9)
        if await self._send({_ACK: verdict.ack, nak: verdict.nak}):
            self.handled += len(verdict.ack)
            self.naked += len(verdict.nak)

    async def _send(self, replies: dict[bytes, list[Delivery]]) -> bool:
        """Each body to the reply subjects of its deliveries, one write; False if it failed."""
        frames = [
            b"PUB %s %d\r\n%s\r\n" % (d.reply.encode(), len(body), body)
            for body, deliveries in replies.items()
            for d in deliveries
        ]
        if not frames:
            return True
        try:
            await _write(self.nc, frames)
        except Exception as exc:
            # Un-acked messages are redelivered after ack_wait: slower, not lost.
            self.ack_failures += len(frames)
            self.last_error = f"ack failed: {exc!r}"
            log.warning("%s: %s", self.settings.durable, self.last_error)
            return False
        return True


async def _write(nc: Client, frames: list[bytes]) -> None:
    """Hand protocol frames to nats-py's outgoing buffer, then wake its flusher.

    Same private-buffer technique as the publisher (``tradewire.publisher._wire``);
    ``flush()`` after it is a PING round trip that also tells us the acks left.
    """
    send = getattr(nc, "_send_command", None)
    if send is None:
        for frame in frames:
            head, _, rest = frame.partition(b"\r\n")
            parts = head.split(b" ")
            await nc.publish(parts[1].decode(), rest[: int(parts[2])])
        return
    await send(b"".join(frames))
    await nc.flush(timeout=5)
