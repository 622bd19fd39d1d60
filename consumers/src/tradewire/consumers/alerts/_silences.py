"""Silences: mute notifications for matching alerts for a while, kept in NATS KV.

A silence matches on rule, bot and labels (all given must match). Silenced alerts are
still evaluated, published and stored; only their notifications are held back, and an
alert still firing when its silence ends is notified then. Silences live in the alerts
service's key-value bucket under ``silence.<id>``, so the CLI, the service and a
restarted service all see the same set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets

import msgspec
from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue

from tradewire.schemas import RULE_NAME_PATTERN, AlertChange

__all__ = [
    "SILENCE_PREFIX",
    "Silence",
    "SilenceWatch",
    "add_silence",
    "list_silences",
    "open_bucket",
    "remove_silence",
]

log = logging.getLogger("tradewire.alerts.silences")
SILENCE_PREFIX = "silence."
_ID = re.compile(r"^[a-f0-9]{12}$")


class Silence(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    id: str = msgspec.field(default_factory=lambda: secrets.token_hex(6))
    rule: str = ""  # empty: any rule
    bot: str = ""  # empty: any bot
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    starts_at: float
    ends_at: float
    comment: str
    created_by: str = ""

    def validate(self) -> None:
        if not (self.rule or self.bot or self.labels):
            raise ValueError("a silence needs at least one of rule, bot or a label matcher")
        if self.rule and not re.match(RULE_NAME_PATTERN, self.rule):
            raise ValueError(f"rule {self.rule!r}: not a rule name")
        if not self.comment.strip():
            raise ValueError("a silence needs a comment (why, and who to ask)")
        if self.ends_at <= self.starts_at:
            raise ValueError("a silence must end after it starts")

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, change: AlertChange) -> bool:
        return (
            (not self.rule or self.rule == change.rule)
            and (not self.bot or self.bot == change.bot)
            and all(change.labels.get(k) == v for k, v in self.labels.items())
        )


async def open_bucket(nc: Client, bucket: str) -> KeyValue:
    """The alerts service's bucket, created on first use (by the service or the CLI)."""
    js = nc.jetstream()
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(bucket=bucket, history=1, max_value_size=8 << 20)
        )


async def add_silence(kv: KeyValue, silence: Silence) -> None:
    silence.validate()
    await kv.put(SILENCE_PREFIX + silence.id, msgspec.json.encode(silence))


async def list_silences(kv: KeyValue) -> list[Silence]:
    """Every stored silence (ended ones too), oldest first."""
    watcher = await kv.watch(SILENCE_PREFIX + "*", ignore_deletes=True)
    out = []
    try:
        async for entry in watcher:
            if entry is None:  # the end of what is stored
                break
            if entry.value:
                out.append(msgspec.json.decode(entry.value, type=Silence))
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]
    return sorted(out, key=lambda s: s.starts_at)


async def remove_silence(kv: KeyValue, silence_id: str) -> bool:
    """Delete a silence; False when there is no such silence."""
    if not _ID.match(silence_id):
        raise ValueError(f"{silence_id!r} is not a silence id (12 hex digits)")
    try:
        await kv.get(SILENCE_PREFIX + silence_id)
    except KeyNotFoundError:
        return False
    await kv.delete(SILENCE_PREFIX + silence_id)
    return True


class SilenceWatch:
    """The current silences, kept up to date by a KV watch (the service's view)."""

    def __init__(self) -> None:
        self.silences: dict[str, Silence] = {}
        self._task: asyncio.Task[None] | None = None
        self._watcher: KeyValue.KeyWatcher | None = None

    def silenced(self, change: AlertChange, now: float) -> bool:
        return any(s.active(now) and s.matches(change) for s in self.silences.values())

    async def start(self, kv: KeyValue) -> None:
        """Load the stored silences (before evaluation starts), then follow changes."""
        self._watcher = watcher = await kv.watch(SILENCE_PREFIX + "*")
        async for entry in watcher:
            if entry is None:  # the end of what is stored
                break
            self._apply(entry)
        self._task = asyncio.create_task(self._follow(watcher))

    async def _follow(self, watcher: KeyValue.KeyWatcher) -> None:
        async for entry in watcher:
            if entry is not None:
                self._apply(entry)

    def _apply(self, entry: KeyValue.Entry) -> None:
        sid = entry.key[len(SILENCE_PREFIX) :]
        if entry.operation in ("DEL", "PURGE") or not entry.value:
            self.silences.pop(sid, None)
            return
        try:
            self.silences[sid] = msgspec.json.decode(entry.value, type=Silence)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error("silence %s is unreadable, ignored: %s", sid, exc)

    async def stop(self) -> None:
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await self._watcher.stop()  # type: ignore[no-untyped-call]
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
