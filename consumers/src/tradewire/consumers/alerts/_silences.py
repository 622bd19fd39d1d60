"""Silences: mute notifications for matching alerts for a while, kept in NATS KV.

A silence matches on rule, bot and labels (all given must match). Silenced alerts are
still evaluated, published and stored; only their notifications are held back, and an
alert still firing when its silence ends is notified then. Silences live in the alerts
service's key-value bucket under ``silence.<id>``, so the CLI, the service and a
restarted service all see the same set.
"""

from __future__ import annotations

import re
import secrets

import msgspec
from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue

from tradewire.consumers.runtime import KeyWatch, read_prefix
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


async def list_silences(nc: Client, bucket: str) -> list[Silence]:
    """Every stored silence (ended ones too), oldest first."""
    stored = await read_prefix(nc.jetstream(), bucket, SILENCE_PREFIX, Silence)
    return sorted(stored.values(), key=lambda s: s.starts_at)


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


class SilenceWatch(KeyWatch[Silence]):
    """The current silences, kept up to date by a KV watch (the service's view)."""

    def __init__(self) -> None:
        super().__init__(SILENCE_PREFIX, Silence)

    @property
    def silences(self) -> dict[str, Silence]:
        return self.values

    def silenced(self, change: AlertChange, now: float) -> bool:
        return any(s.active(now) and s.matches(change) for s in self.values.values())
