"""Open orders, from order events: how many a bot has, and which stayed open too long.

GPT-Trader counts an order as unfilled when it is still not done some time after it
was created (``RISK_UNFILLED_ORDER_ALERT_SECONDS``, default 300 s), or when the bot
itself raised ``unfilled_order_alert``. Both paths end here, so each order is counted
once whichever path sees it first.
"""

from __future__ import annotations

from collections import OrderedDict

from ._caps import Recent

__all__ = ["OPEN_STATUSES", "OpenOrders"]

OPEN_STATUSES = frozenset({"submitted", "accepted", "partially_filled"})


class OpenOrders:
    def __init__(self, max_per_bot: int, remember: int = 200_000) -> None:
        self.max_per_bot = max_per_bot
        # (bot, order id) -> first seen open (event time), in arrival order. Moved to
        # ``overdue`` once counted as unfilled, so the scan stops at the first young one.
        self.young: OrderedDict[tuple[str, str], float] = OrderedDict()
        self.overdue: dict[tuple[str, str], None] = {}
        self.per_bot: dict[str, int] = {}
        self.counted = Recent(remember)  # orders already counted as unfilled

    def update(self, bot: str, order_id: str, is_open: bool, ts: float) -> bool:
        """Track an order's state change; False when the bot's quota is full."""
        key = (bot, order_id)
        if not is_open:
            if key in self.young:
                del self.young[key]
            elif key in self.overdue:
                del self.overdue[key]
            else:
                return True  # never seen open (or not tracked): nothing to close
            self.per_bot[bot] -= 1
            return True
        if key in self.young or key in self.overdue:
            return True
        n = self.per_bot.get(bot, 0)
        if n >= self.max_per_bot:
            return False
        self.per_bot[bot] = n + 1
        self.young[key] = ts
        return True

    def reported_unfilled(self, bot: str, order_id: str) -> bool:
        """The bot says the order is unfilled: True if that is news."""
        key = (bot, order_id)
        if not self.counted.add(key):
            return False
        if self.young.pop(key, None) is not None:
            self.overdue[key] = None
        return True

    def overdue_since(self, cutoff: float) -> list[str]:
        """Bots of the orders first seen open before ``cutoff`` and not counted yet."""
        bots: list[str] = []
        young = self.young
        while young:
            key, ts = next(iter(young.items()))
            if ts >= cutoff:
                break
            del young[key]
            self.overdue[key] = None
            if self.counted.add(key):
                bots.append(key[0])
        return bots

    def forget_bot(self, bot: str) -> None:
        for store in (self.young, self.overdue):
            for key in [k for k in store if k[0] == bot]:
                del store[key]
        self.per_bot.pop(bot, None)
