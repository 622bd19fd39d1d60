"""Bounds on what bots can make the metrics service remember.

Label values that come from bots (symbol, reason, guard, operation, ...) are capped
per bot and label name: past the cap, new values are reported as ``other`` and
counted, so one misbehaving bot cannot blow up the scrape. ``Recent`` remembers the
last N keys (event ids, order ids) in bounded memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from ._families import Family

__all__ = ["OTHER", "LabelCaps", "Recent"]

OTHER = "other"


class LabelCaps:
    """``caps(bot, name, value)``: ``value``, or ``other`` once the bot used its quota."""

    def __init__(self, limit: int, overflow: Family) -> None:
        self.limit = limit
        self.overflow = overflow  # counts refused values by (bot, label name)
        self._seen: dict[tuple[str, str], set[str]] = {}

    def __call__(self, bot: str, name: str, value: str) -> str:
        key = (bot, name)
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = set()
        if value in seen:
            return value
        if len(seen) < self.limit:
            seen.add(value)
            return value
        self.overflow.inc((bot, name))
        return OTHER

    def forget_bot(self, bot: str) -> None:
        for key in [k for k in self._seen if k[0] == bot]:
            del self._seen[key]


class Recent:
    """The last ``cap`` keys seen; ``add`` is True the first time a key is seen."""

    __slots__ = ("_keys", "cap")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._keys: OrderedDict[Hashable, None] = OrderedDict()

    def add(self, key: Hashable) -> bool:
        keys = self._keys
        if key in keys:
            return False
        keys[key] = None
        if len(keys) > self.cap:
            keys.popitem(last=False)
        return True

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)
