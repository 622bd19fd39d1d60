"""Fleet membership: retiring a bot, and each service's view of the retired ones.

``tradewire bots retire BOT`` writes ``retired.<bot>`` to the fleet bucket
(``Subjects.fleet_bucket``, e.g. ``tradewire_fleet``). The alerts service resolves the
bot's alerts and forgets it; the metrics service drops its series from ``/metrics``; the
store keeps its history. Events of a retired bot from before its retirement (late
deliveries, imports) are ignored by both; an event from after it means the bot runs
again: it is live again, and the services log so.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import msgspec
from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from tradewire.consumers.runtime import KeyWatch, read_prefix
from tradewire.publisher import events_replicas
from tradewire.schemas import BOT_ID_PATTERN, Subjects

__all__ = [
    "RETIRED_PREFIX",
    "Retired",
    "Retirement",
    "check_bot_id",
    "list_retired",
    "open_fleet_bucket",
    "retire_bot",
]

log = logging.getLogger("tradewire.fleet")
RETIRED_PREFIX = "retired."


class Retirement(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    bot: str
    at: float = msgspec.field(default_factory=time.time)
    by: str = ""
    comment: str = ""


async def open_fleet_bucket(nc: Client, subjects: Subjects) -> KeyValue:
    """The fleet bucket of ``subjects``' root, created on first use with as many replicas
    as the events stream (R3 on a cluster)."""
    js = nc.jetstream()
    try:
        return await js.key_value(subjects.fleet_bucket)
    except BucketNotFoundError:
        config = KeyValueConfig(
            bucket=subjects.fleet_bucket,
            history=1,
            max_value_size=64 << 10,
            replicas=await events_replicas(nc, subjects),
        )
        return await js.create_key_value(config)


def check_bot_id(bot: str) -> None:
    if not re.match(BOT_ID_PATTERN, bot):
        raise ValueError(f"{bot!r} is not a bot id (1-64 of A-Z a-z 0-9 _ -)")


async def retire_bot(kv: KeyValue, retirement: Retirement) -> None:
    check_bot_id(retirement.bot)
    await kv.put(RETIRED_PREFIX + retirement.bot, msgspec.json.encode(retirement))


async def list_retired(nc: Client, subjects: Subjects) -> dict[str, Retirement]:
    return await read_prefix(nc.jetstream(), subjects.fleet_bucket, RETIRED_PREFIX, Retirement)


class Retired(KeyWatch[Retirement]):
    """A service's view of the retired bots, kept up to date by a watch of the bucket.

    ``on_retire(bot, at)`` runs for each retirement (those stored at start too);
    ``admits(bot, ts)`` says whether an event of that time still counts.
    """

    def __init__(self, service: str, on_retire: Callable[[str, float], None]) -> None:
        super().__init__(RETIRED_PREFIX, Retirement, self._changed)
        self.service = service
        self.on_retire = on_retire
        self.retired: dict[str, float] = {}  # bot -> retired at; gone once it runs again

    def _changed(self, bot: str, value: Retirement | None) -> None:
        if value is None:
            self.retired.pop(bot, None)
            return
        self.retired[bot] = value.at
        log.info("%s: bot %s is retired (by %s)", self.service, bot, value.by or "?")
        self.on_retire(bot, value.at)

    def admits(self, bot: str, ts: float) -> bool:
        """False for an event of a retired bot from before its retirement; an event
        from after it brings the bot back (logged)."""
        at = self.retired.get(bot)
        if at is None:
            return True
        if ts <= at:
            return False
        del self.retired[bot]
        log.warning("%s: retired bot %s publishes again: it is live again", self.service, bot)
        return True
