"""Keys under a prefix of a NATS key-value bucket: read once, or followed by a watch.

A watch first delivers every stored key (then a ``None`` marker), then each change as
it happens: pushed by the server, never polled. nats-py's marker can come before the
stored keys when the server has sent them but the client has not read them yet, so a
watch's start is "soon", not "all": a one-off read that must be complete (state at
start, a listing) uses a pull consumer on the bucket's stream instead, whose pending
count is exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec
import nats
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

__all__ = ["KeyWatch", "read_prefix"]

log = logging.getLogger("tradewire.consumers.kv")
T = TypeVar("T")


def _value(key: str, data: bytes, type_: type[T]) -> T | None:
    try:
        return msgspec.json.decode(data, type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.error("key %s is unreadable, ignored: %s", key, exc)
        return None


async def read_prefix(
    js: JetStreamContext, bucket: str, prefix: str, type_: type[T]
) -> dict[str, T]:
    """Every readable value stored under ``prefix`` in ``bucket`` (keys without the
    prefix), as the bucket's stream holds them (``KV_<bucket>``, ``$KV.<bucket>.<key>``)."""
    subject = f"$KV.{bucket}."
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=30.0,
    )
    out: dict[str, T] = {}
    try:
        sub = await js.pull_subscribe(subject + prefix + ">", stream=f"KV_{bucket}", config=config)
    except NotFoundError:
        return out  # no such bucket: nothing stored
    try:
        left = (await sub.consumer_info()).num_pending or 0
        while left > 0:
            try:
                msgs = await sub.fetch(min(left, 1000), timeout=10)
            except nats.errors.TimeoutError:
                break  # fewer than counted: some were purged meanwhile
            left -= len(msgs)
            for m in msgs:
                op = (m.headers or {}).get("KV-Operation")
                if op in ("DEL", "PURGE") or not m.data:
                    continue
                key = m.subject[len(subject) :]
                value = _value(key, m.data, type_)
                if value is not None:
                    out[key[len(prefix) :]] = value
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    return out


class KeyWatch(Generic[T]):
    """The current values under ``prefix``, kept up to date by a KV watch.

    ``on_change(name, value)`` is called for each stored key at start and for each
    change after (``value`` None: deleted), on the event loop.
    """

    def __init__(
        self,
        prefix: str,
        type_: type[T],
        on_change: Callable[[str, T | None], None] | None = None,
    ) -> None:
        self.prefix = prefix
        self.type = type_
        self.on_change = on_change
        self.values: dict[str, T] = {}
        self._task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Task[None] | None = None
        self._watcher: KeyValue.KeyWatcher | None = None

    async def attach(self, js: JetStreamContext, bucket: str, *, retry_s: float = 2.0) -> None:
        """Start on ``bucket`` if it exists; if not (nobody wrote to it yet), look for it
        again every ``retry_s`` in the background rather than create a bucket that
        another component owns."""
        try:
            kv = await js.key_value(bucket)
        except BucketNotFoundError:
            self._waiter = asyncio.create_task(self._wait_for(js, bucket, retry_s))
            return
        await self.start(kv)

    async def _wait_for(self, js: JetStreamContext, bucket: str, retry_s: float) -> None:
        while True:
            await asyncio.sleep(retry_s)
            try:
                kv = await js.key_value(bucket)
            except BucketNotFoundError:
                continue
            except Exception as exc:  # NATS away: try again later
                log.debug("looking for bucket %s: %r", bucket, exc)
                continue
            await self.start(kv)
            return

    async def start(self, kv: KeyValue) -> None:
        """Load what is stored (before returning), then follow changes in a task."""
        self._watcher = watcher = await kv.watch(self.prefix + ">")
        async for entry in watcher:
            if entry is None:
                break
            self._apply(entry)
        self._task = asyncio.create_task(self._follow(watcher))

    async def _follow(self, watcher: KeyValue.KeyWatcher) -> None:
        async for entry in watcher:
            if entry is not None:
                self._apply(entry)

    def _apply(self, entry: KeyValue.Entry) -> None:
        name = entry.key[len(self.prefix) :]
        value = None
        if entry.operation not in ("DEL", "PURGE") and entry.value:
            value = _value(entry.key, entry.value, self.type)
        if value is None:
            if self.values.pop(name, None) is None and entry.operation not in ("DEL", "PURGE"):
                return  # unreadable and unknown: nothing changed
        else:
            self.values[name] = value
        if self.on_change is not None:
            try:
                self.on_change(name, value)
            except Exception:  # a bad handler must not end the watch
                log.exception("handling key %s%s failed", self.prefix, name)

    @property
    def attached(self) -> bool:
        """Following the bucket: it existed (or appeared) and what it stores is loaded."""
        return self._task is not None

    async def stop(self) -> None:
        if self._waiter is not None:
            self._waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._waiter
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await self._watcher.stop()  # type: ignore[no-untyped-call]
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
