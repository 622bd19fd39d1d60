"""The alerts service's state in its NATS key-value bucket: one key per alert and one
per bot, so no value grows with the fleet (NATS refuses values past its max payload).

- ``alert.<fingerprint>``: a pending or firing alert: the engine's instance, when each
  receiver was sent it, and (firing) the alert as ``alerts list`` and the metrics
  service show it;
- ``resolve.<fingerprint>``: a resolve waiting for its group's ``group_interval``, and
  when each receiver it waits for was sent the firing (a restart sends it when due);
- ``bot.<bot>``: the bot's clock, whether it is live, and what its threshold and
  absence series last saw;
- ``silence.<id>``: one silence each (``_silences.py``).

Before this layout the state was three values (``engine``, ``firing``, ``notified``)
that held every alert; a bucket holding them is read once at start, written anew in
this layout, and those keys are then deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from tradewire.consumers.runtime import read_prefix
from tradewire.schemas import AlertChange

from ._engine import Instance

__all__ = [
    "ALERT_PREFIX",
    "BOT_PREFIX",
    "RESOLVE_PREFIX",
    "AlertRecord",
    "Legacy",
    "StateStore",
    "WaitingResolve",
    "read_firing",
]

log = logging.getLogger("tradewire.alerts")
ALERT_PREFIX = "alert."
BOT_PREFIX = "bot."
RESOLVE_PREFIX = "resolve."
_LEGACY_KEYS = ("engine", "firing", "notified")
_CONCURRENCY = 128  # KV writes in flight at once


class AlertRecord(msgspec.Struct, kw_only=True):
    key: list[str]  # bot, then the rule's `per` values
    instance: Instance
    notified: dict[str, float | None] = msgspec.field(default_factory=dict)
    firing: AlertChange | None = None
    told: dict[str, str] = msgspec.field(default_factory=dict)  # receiver -> severity sent


class WaitingResolve(msgspec.Struct, kw_only=True):
    change: AlertChange
    told: dict[str, float]  # receiver -> when it was sent the firing


class Legacy(msgspec.Struct, kw_only=True):
    """The single-value layout: the engine's whole state, and per receiver when each
    firing alert was sent."""

    engine: dict[str, Any]
    notified: dict[str, dict[str, float | None]] = msgspec.field(default_factory=dict)

    def notified_by_alert(self, firing: list[str]) -> dict[str, dict[str, float | None]]:
        """Per alert, per receiver: a receiver that had saved state but not this alert
        had held it back (as the old layout meant)."""
        return {fp: {name: sent.get(fp) for name, sent in self.notified.items()} for fp in firing}


async def read_firing(nc: Client, bucket: str) -> list[AlertChange]:
    """The alerts firing now, as the alerts service last saved them."""
    records = await read_prefix(nc.jetstream(), bucket, ALERT_PREFIX, AlertRecord)
    return [r.firing for r in records.values() if r.firing is not None]


class StateStore:
    """Writes and deletes keys, and keeps count of what failed, for ``/health`` and the
    service's metrics: a key whose write failed stays failed until a write succeeds."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv
        self.writes = 0
        self.failures = 0
        self.last_error = ""
        self.failed: set[str] = set()

    async def write(self, items: dict[str, bytes | None]) -> set[str]:
        """Put each value (None: delete the key); return the keys that failed."""
        failed: set[str] = set()
        todo = iter(items.items())

        # A few workers taking keys in turn, not a task per key: a save of every bot
        # of a 1,000-bot fleet is 1,000 keys every few seconds.
        async def worker() -> None:
            for key, value in todo:
                try:
                    if value is None:
                        await self.kv.delete(key)
                    else:
                        await self.kv.put(key, value)
                except Exception as exc:  # kept dirty, written again at the next save
                    failed.add(key)
                    self.failures += 1
                    self.last_error = f"{key}: {type(exc).__name__}: {exc}"
                else:
                    self.writes += 1
                    self.failed.discard(key)

        await asyncio.gather(*(worker() for _ in range(min(_CONCURRENCY, len(items)))))
        if failed:
            self.failed |= failed
            log.error(
                "saving alert state: %d of %d key(s) failed, e.g. %s",
                len(failed),
                len(items),
                self.last_error,
            )
        return failed

    async def read_legacy(self) -> Legacy | None:
        values: dict[str, Any] = {}
        for key in ("engine", "notified"):
            with contextlib.suppress(KeyNotFoundError):
                entry = await self.kv.get(key)
                if entry.value:
                    values[key] = msgspec.json.decode(entry.value)
        if "engine" not in values:
            return None
        return msgspec.convert(values, Legacy)

    async def drop_legacy(self) -> None:
        for key in _LEGACY_KEYS:
            with contextlib.suppress(KeyNotFoundError):
                await self.kv.delete(key)
