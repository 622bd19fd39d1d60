"""Silences: mute notifications for matching alerts for a while, kept in NATS KV.

A silence matches on rule, bot and labels (all given must match). Silenced alerts are
still evaluated, published and stored; only their notifications are held back, and an
alert still firing when its silence ends is notified then. Silences live in the alerts
service's key-value bucket under ``silence.<id>``, so the CLI, the service and a
restarted service all see the same set.

The CLI signs a silence with the operator's nkey (``signer``, ``signature``); the
service writes each new or changed silence to the audit log with the verified key
(docs/security.md). Ending one early is a signed update (``ends_at`` now) and then a
delete, so who ended it is on record too.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import time

import msgspec
from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue

from tradewire.consumers.auth import Signer, audit, verify_signature
from tradewire.consumers.runtime import KeyWatch, read_prefix
from tradewire.schemas import RULE_NAME_PATTERN, AlertChange

__all__ = [
    "SILENCE_PREFIX",
    "Silence",
    "SilenceWatch",
    "add_silence",
    "audit_silence",
    "audit_silence_removed",
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
    signer: str = ""  # the public key of the nkey that signed it; empty: unsigned
    signature: str = ""

    def signed_bytes(self) -> bytes:
        unsigned = msgspec.structs.replace(self, signature="")
        return b"tradewire-silence-v1\n" + msgspec.json.encode(unsigned)

    def sign(self, signer: Signer) -> None:
        self.signer = signer.public_key
        self.signature = signer.sign(self.signed_bytes())

    def signature_status(self) -> str:
        if not (self.signer and self.signature):
            return "unsigned"
        ok = verify_signature(self.signer, self.signed_bytes(), self.signature)
        return "verified" if ok else "bad signature"

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


async def open_bucket(nc: Client, bucket: str, replicas: int = 1) -> KeyValue:
    """The alerts service's bucket, created on first use (by the service or the CLI) with
    ``replicas`` copies of each key (3 on a cluster: the events stream's count)."""
    js = nc.jetstream()
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(bucket=bucket, history=1, max_value_size=8 << 20, replicas=replicas)
        )


async def add_silence(kv: KeyValue, silence: Silence) -> None:
    silence.validate()
    await kv.put(SILENCE_PREFIX + silence.id, msgspec.json.encode(silence))


async def list_silences(nc: Client, bucket: str) -> list[Silence]:
    """Every stored silence (ended ones too), oldest first."""
    stored = await read_prefix(nc.jetstream(), bucket, SILENCE_PREFIX, Silence)
    return sorted(stored.values(), key=lambda s: s.starts_at)


async def remove_silence(kv: KeyValue, silence_id: str, signer: Signer | None = None) -> bool:
    """Delete a silence; False when there is no such silence. With ``signer``, it is
    first ended (``ends_at`` now) in a signed update, so the audit log says who."""
    if not _ID.match(silence_id):
        raise ValueError(f"{silence_id!r} is not a silence id (12 hex digits)")
    try:
        entry = await kv.get(SILENCE_PREFIX + silence_id)
    except KeyNotFoundError:
        return False
    if signer is not None and entry.value:
        with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
            ended = msgspec.json.decode(entry.value, type=Silence)
            ended.ends_at = max(ended.starts_at + 0.001, time.time())
            ended.sign(signer)
            await kv.put(SILENCE_PREFIX + silence_id, msgspec.json.encode(ended))
    await kv.delete(SILENCE_PREFIX + silence_id)
    return True


class SilenceWatch(KeyWatch[Silence]):
    """The current silences, kept up to date by a KV watch (the service's view); each
    one set or removed after start is written to the audit log."""

    def __init__(self) -> None:
        super().__init__(SILENCE_PREFIX, Silence, on_change=self._audit)
        self._loaded = False

    @property
    def silences(self) -> dict[str, Silence]:
        return self.values

    def silenced(self, change: AlertChange, now: float) -> bool:
        return any(s.active(now) and s.matches(change) for s in self.values.values())

    async def start(self, kv: KeyValue) -> None:
        await super().start(kv)
        self._loaded = True  # what was stored was audited when it was set

    def _audit(self, silence_id: str, silence: Silence | None) -> None:
        if not self._loaded:
            return
        if silence is None:
            audit_silence_removed(silence_id)
        else:
            audit_silence(silence)


def audit_silence(silence: Silence) -> None:
    """The audit line of a silence set or changed, with its verified signer."""
    status = silence.signature_status()
    audit(
        "silence",
        silence.signer if status == "verified" else "",
        signature=status,
        claimed=silence.created_by or None,
        id=silence.id,
        rule=silence.rule or "*",
        bot=silence.bot or "*",
        labels=",".join(f"{k}={v}" for k, v in sorted(silence.labels.items())) or None,
        starts_at=round(silence.starts_at, 3),
        ends_at=round(silence.ends_at, 3),
        comment=silence.comment,
    )


def audit_silence_removed(silence_id: str) -> None:
    """A KV delete carries no identity: the signed update that ended it came first."""
    audit("silence removed", "", id=silence_id, signature="none (a delete is not signed)")
