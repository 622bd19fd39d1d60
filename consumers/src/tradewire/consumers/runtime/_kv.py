"""Keys under a prefix of a NATS key-value bucket: read once, or followed by a watch.

A watch first delivers every stored key (then a ``None`` marker), then each change as
it happens: pushed by the server, never polled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec
from nats.js.kv import KeyValue

__all__ = ["KeyWatch", "read_prefix"]

log = logging.getLogger("tradewire.consumers.kv")
T = TypeVar("T")


def _decode(entry: KeyValue.Entry, type_: type[T]) -> T | None:
    if entry.operation in ("DEL", "PURGE") or not entry.value:
        return None
    try:
        return msgspec.json.decode(entry.value, type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.error("key %s is unreadable, ignored: %s", entry.key, exc)
        return None


async def read_prefix(kv: KeyValue, prefix: str, type_: type[T]) -> dict[str, T]:
    """Every readable value stored under ``prefix`` (keys without the prefix)."""
    watcher = await kv.watch(prefix + ">", ignore_deletes=True)
    out: dict[str, T] = {}
    try:
        async for entry in watcher:
            if entry is None:  # the end of what is stored
                break
            value = _decode(entry, type_)
            if value is not None:
                out[entry.key[len(prefix) :]] = value
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]
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
        self._watcher: KeyValue.KeyWatcher | None = None

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
        value = _decode(entry, self.type)
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

    async def stop(self) -> None:
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await self._watcher.stop()  # type: ignore[no-untyped-call]
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
