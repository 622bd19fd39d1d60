"""Envelope stamping: the only work ``emit`` does on the bot's thread besides a queue append."""

from __future__ import annotations

import re
import secrets
import threading
import time
from typing import TypeVar

from tradewire.schemas import BOT_ID_PATTERN, Envelope

__all__ = ["Stamper", "check_bot_id"]

E = TypeVar("E", bound=Envelope)
_BOT = re.compile(BOT_ID_PATTERN)


def check_bot_id(bot: str) -> str:
    if not isinstance(bot, str) or not _BOT.match(bot):
        raise ValueError(f"invalid bot id {bot!r}: use 1-64 of [A-Za-z0-9_-]")
    return bot


class Stamper:
    """Gives events their id, bot, run, seq and (unless already set) ts.

    ``run`` is 64 random bits, so ``<run>-<seq>`` is unique across the fleet
    without a coordinator. The lock keeps seq gap-free and in emit order when
    several threads emit.
    """

    __slots__ = ("bot", "lock", "run", "seq")

    def __init__(self, bot: str) -> None:
        self.bot = check_bot_id(bot)
        self.run = secrets.token_hex(8)
        self.seq = 0
        self.lock = threading.Lock()

    def stamp(self, event: E) -> E:
        """Stamp in place (the caller's event object is the one enqueued)."""
        event.bot = self.bot
        event.run = self.run
        if not event.ts:
            event.ts = time.time()
        self.seq += 1
        event.seq = self.seq
        event.id = f"{self.run}-{self.seq}"
        return event
