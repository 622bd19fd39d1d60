"""The recent past of each bot, for the console's charts: the metrics service keeps
current values only.

Each bot gets a ring of ``points`` time buckets of ``step_s`` seconds (by event time;
default 120 x 5 s, the last 10 minutes), filled from the events as the service folds
them: equity and total PnL (the latest account snapshot in the bucket), trading-loop
duration and broker-call latency (mean and max in the bucket). An event older than the
ring is left out of the charts. Memory is fixed per bot: one array of ``points`` x 10
doubles (9.6 KB at 120 points), plus the last ``recent`` orders and errors as small
tuples. A bot the aggregation forgot (retired, or past ``max_bots``) is dropped here too.

Day PnL: the change of the bot's total PnL (realized + unrealized + funding - fees, as
``total_pnl_usd``) since its first account snapshot of the UTC day this service saw:
after a restart mid-day it counts from the first snapshot since then (``day_since``).
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from tradewire.schemas import Account, BrokerCall, Cycle, Envelope, Error, Order

__all__ = ["SERIES", "BotHistory", "History", "Series"]

# One bucket's slots: its index (time // step), then what it holds.
_BUCKET, _EQ_TS, _EQUITY, _PNL, _C_SUM, _C_N, _C_MAX, _B_SUM, _B_N, _B_MAX = range(10)
_F = 10
_NAN = math.nan
_EMPTY = (_NAN, -math.inf, _NAN, _NAN, 0.0, 0.0, -math.inf, 0.0, 0.0, -math.inf)
_DAY = 86400.0
MAX_MESSAGE = 300  # characters of an error message kept

Series = dict[str, list[float | None]]
SERIES = ("t", "equity", "pnl", "cycle_mean_s", "cycle_max_s", "broker_mean_s", "broker_max_s")


def _total_pnl(ev: Account) -> float:
    return ev.realized_pnl + ev.unrealized_pnl + ev.funding_pnl - ev.fees


class BotHistory:
    """One bot's ring of buckets, its recent orders and errors, and its day's PnL base."""

    __slots__ = ("data", "day", "day_pnl0", "day_since", "errors", "latest", "orders", "pnl")

    def __init__(self, points: int, recent: int) -> None:
        self.data = array("d", _EMPTY * points)
        self.latest = -math.inf  # the newest bucket index written
        self.orders: deque[tuple[Any, ...]] = deque(maxlen=recent)
        self.errors: deque[tuple[Any, ...]] = deque(maxlen=recent)
        self.day = -1.0  # the UTC day (ts // 86400) of the latest snapshot
        self.day_pnl0 = 0.0  # total PnL at the day's first snapshot
        self.day_since = 0.0  # that snapshot's time
        self.pnl: tuple[float, float] = (-math.inf, 0.0)  # (ts, total PnL) of the latest

    def slot(self, ts: float, step: float) -> int | None:
        """Where ``ts``'s bucket lives in ``data`` (cleared when a newer bucket takes the
        slot over), or None when it is older than the ring."""
        points = len(self.data) // _F
        bucket = float(ts // step)
        if bucket <= self.latest - points:
            return None
        i = int(bucket % points) * _F
        data = self.data
        if data[i] != bucket:
            data[i : i + _F] = array("d", _EMPTY)
            data[i] = bucket
        self.latest = max(self.latest, bucket)
        return i

    def day_pnl(self, today: float) -> tuple[float, float] | None:
        """(PnL since the day's first snapshot, when that was), if a snapshot came today."""
        if self.day != today:
            return None
        return self.pnl[1] - self.day_pnl0, self.day_since

    def series(self, step: float) -> Series:
        """The buckets held, oldest first: time, equity, PnL, cycle and broker latency."""
        data, points = self.data, len(self.data) // _F
        held = sorted(
            (data[i * _F], i * _F)
            for i in range(points)
            if data[i * _F] == data[i * _F] and data[i * _F] > self.latest - points
        )
        out: Series = {k: [] for k in SERIES}

        def num(x: float) -> float | None:
            return None if math.isnan(x) or math.isinf(x) else x

        for bucket, i in held:
            out["t"].append(bucket * step)
            out["equity"].append(num(data[i + _EQUITY]))
            out["pnl"].append(num(data[i + _PNL]))
            c_n, b_n = data[i + _C_N], data[i + _B_N]
            out["cycle_mean_s"].append(data[i + _C_SUM] / c_n if c_n else None)
            out["cycle_max_s"].append(num(data[i + _C_MAX]))
            out["broker_mean_s"].append(data[i + _B_SUM] / b_n if b_n else None)
            out["broker_max_s"].append(num(data[i + _B_MAX]))
        return out


class History:
    """Every bot's :class:`BotHistory`; ``observe`` each event the service folds in."""

    def __init__(self, *, points: int = 120, step_s: float = 5.0, recent: int = 20) -> None:
        if not 2 <= points <= 10_000:
            raise ValueError("console history points must be between 2 and 10000")
        if not 0.1 <= step_s <= 3600:
            raise ValueError("console history step must be between 0.1 and 3600 s")
        if not 1 <= recent <= 1000:
            raise ValueError("recent orders and errors kept must be between 1 and 1000")
        self.points = points
        self.step_s = step_s
        self.recent = recent
        self.bots: dict[str, BotHistory] = {}
        self._fold: dict[type, Callable[[BotHistory, Any, float], None]] = {
            Account: self._account,
            Cycle: self._cycle,
            BrokerCall: self._broker_call,
            Order: self._order,
            Error: self._error,
        }

    def observe(self, ev: Envelope, now: float) -> None:
        """Fold one event in (a kind the charts do not use costs one dict lookup); a bot
        clock ahead of ``now`` counts as now, as the aggregation does."""
        fold = self._fold.get(type(ev))
        if fold is None:
            return
        h = self.bots.get(ev.bot)
        if h is None:
            h = self.bots[ev.bot] = BotHistory(self.points, self.recent)
        fold(h, ev, min(ev.ts, now))

    def keep_only(self, bots: Iterable[str]) -> None:
        """Forget the bots not in ``bots`` (the aggregation's current set)."""
        for bot in self.bots.keys() - set(bots):
            del self.bots[bot]

    # -- one fold per kind ------------------------------------------------------------------
    def _account(self, h: BotHistory, ev: Account, ts: float) -> None:
        pnl = _total_pnl(ev)
        day = float(ts // _DAY)
        if day > h.day or (day == h.day and ts < h.day_since):
            h.day, h.day_pnl0, h.day_since = day, pnl, ts
        if ts >= h.pnl[0]:
            h.pnl = (ts, pnl)
        i = h.slot(ts, self.step_s)
        if i is not None and ts >= h.data[i + _EQ_TS]:
            d = h.data
            d[i + _EQ_TS], d[i + _EQUITY], d[i + _PNL] = ts, ev.equity, pnl

    def _latency(self, h: BotHistory, ts: float, first: int, seconds: float) -> None:
        """Add to the sum, count and max that start at slot offset ``first``."""
        i = h.slot(ts, self.step_s)
        if i is not None:
            d, i = h.data, i + first
            d[i] += seconds
            d[i + 1] += 1
            d[i + 2] = max(d[i + 2], seconds)

    def _cycle(self, h: BotHistory, ev: Cycle, ts: float) -> None:
        self._latency(h, ts, _C_SUM, ev.duration_s)

    def _broker_call(self, h: BotHistory, ev: BrokerCall, ts: float) -> None:
        self._latency(h, ts, _B_SUM, ev.latency_s)

    def _order(self, h: BotHistory, ev: Order, ts: float) -> None:
        h.orders.append(
            (ts, ev.symbol, ev.side, ev.status, ev.qty, ev.price, ev.reason, ev.latency_s)
        )

    def _error(self, h: BotHistory, ev: Error, ts: float) -> None:
        h.errors.append((ts, ev.component, ev.error_type, ev.message[:MAX_MESSAGE]))
