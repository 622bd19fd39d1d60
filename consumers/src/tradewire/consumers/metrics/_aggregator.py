"""Events in, metric values out: one aggregation, whatever names it is exposed under.

``Aggregator.apply`` dedups an event, counts it for the pipeline's own health and hands
it to the fold function of its kind (``_folds``); values computed at scrape time come
from ``_computed``. The families are the catalog's rows (``_catalog``); the names they
are shown under are the profiles' business (``_profiles``, ``_exposition``).
"""

from __future__ import annotations

import time
from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from tradewire.schemas import KIND_OF, AlertChange, Envelope

from ._caps import LabelCaps, Recent
from ._catalog import build_families
from ._computed import install_computed
from ._custom import CustomMetrics
from ._families import Family
from ._folds import FOLDS
from ._orders import OpenOrders

__all__ = ["Aggregator", "Limits", "Window"]


@dataclass(frozen=True, kw_only=True)
class Limits:
    max_label_values: int = 100  # per bot and label name
    max_bots: int = 5000
    dedup_ids: int = 500_000  # recent event ids remembered to drop redeliveries
    bot_down_after_s: float = 120.0
    ws_stale_after_s: float = 60.0
    ws_heartbeat_stale_after_s: float = 30.0  # GPT-Trader's threshold
    unfilled_order_after_s: float = 300.0  # GPT-Trader's RISK_UNFILLED_ORDER_ALERT_SECONDS
    max_open_orders: int = 10_000  # tracked per bot
    max_custom_metrics: int = 500  # custom metric names, fleet-wide
    max_runs: int = 10_000  # publisher runs tracked for lost events


@dataclass
class Window:
    """Fleet-wide counts over a sliding window, for the health signals."""

    seconds: float = 300.0
    events: deque[tuple[float, str, float]] = field(default_factory=deque)

    def add(self, now: float, what: str, value: float = 1.0) -> None:
        self.events.append((now, what, value))

    def trim(self, now: float) -> None:
        while self.events and self.events[0][0] < now - self.seconds:
            self.events.popleft()

    def values(self, now: float, what: str) -> list[float]:
        self.trim(now)
        return [v for _, w, v in self.events if w == what]


class Aggregator:
    """Holds every metric; ``apply`` one event at a time, ``tick`` now and then."""

    def __init__(self, limits: Limits | None = None, window: Window | None = None) -> None:
        self.limits = lim = limits or Limits()
        self.families: dict[str, Family] = build_families()
        f = self.families
        self.window = window or Window()
        self.caps = LabelCaps(lim.max_label_values, f["pipeline_label_overflow_total"])
        self.custom = CustomMetrics(
            self.caps,
            f["custom_metrics_refused_total"],
            lim.max_custom_metrics,
            lim.max_label_values,
        )
        self.orders = OpenOrders(lim.max_open_orders)
        # State behind values computed at scrape time, and /metrics.json.
        self.last_mark: dict[str, dict[str, float]] = defaultdict(dict)
        self.last_account: dict[str, float] = {}
        self.last_heartbeat: dict[str, float] = {}
        # ws last-seen times the bot reported: message, heartbeat, close, error.
        self.ws_seen: dict[str, list[float | None]] = {}
        self.health: dict[str, dict[str, int]] = defaultdict(dict)  # bot -> component -> level
        self.reported_open_orders: dict[str, int] = {}  # account.open_orders, when sent
        self.position_keys: dict[str, list[tuple[str, ...]]] = {}  # series of open positions
        self.fee_tier: dict[str, tuple[str, ...]] = {}  # the series of the current tier
        self.latest_order: dict[str, dict[str, Any]] = {}
        self.latest_account: dict[str, dict[str, Any]] = {}
        # (bot, run) -> [lowest seq, highest seq, events seen]: a run already under way
        # when the service started is counted from its first event seen here.
        self.runs: OrderedDict[tuple[str, str], list[int]] = OrderedDict()
        self.ids = Recent(lim.dedup_ids)
        self.order_outcome = Recent(200_000)  # one submission outcome per order
        self.bots: set[str] = set()
        self.generation = 0  # bumped when series are forgotten; renderers drop caches
        install_computed(self)

    def label(self, bot: str, name: str, value: str) -> str:
        """``value``, or ``other`` once this bot has used its quota of values for ``name``."""
        return self.caps(bot, name, value)

    # -- events -------------------------------------------------------------------------
    def apply(
        self,
        ev: Envelope,
        now: float | None = None,
        *,
        seed: bool = False,
        redelivered: bool = False,
    ) -> bool:
        """Fold one event in; False if it was a redelivery (already counted) or refused.

        ``seed=True`` (start-up, from the last message per subject) sets state and gauges
        only: counters and histograms start at zero after a restart.
        ``redelivered=True`` (the server delivered it before, perhaps to the process before
        this one) counts the event but leaves its run's seq span alone: its neighbours may
        have been acked by that process, and their absence here is not a loss.
        """
        now = time.time() if now is None else now
        f = self.families
        bot = ev.bot
        if bot not in self.bots:
            if len(self.bots) >= self.limits.max_bots:
                f["pipeline_quarantined_total"].inc(("too_many_bots",))
                return False
            self.bots.add(bot)
        if not seed:
            if not self.ids.add(ev.id):
                f["pipeline_duplicates_total"].inc(())
                return False
            f["pipeline_events_total"].inc((bot, KIND_OF[type(ev)]))
            f["pipeline_event_latency_seconds"].observe((), max(0.0, now - ev.ts))
            self._span(ev, redelivered)
        fold = FOLDS.get(type(ev))
        if fold is not None:
            fold(self, ev, now, seed)
        return True

    def _span(self, ev: Envelope, redelivered: bool) -> None:
        """Widen the run's seq span (lost = holes in it). A redelivery only fills a hole."""
        run = self.runs.get((ev.bot, ev.run))
        if redelivered:
            if run is not None and run[0] <= ev.seq <= run[1]:
                run[2] += 1
            return
        if run is None:
            run = self.runs[(ev.bot, ev.run)] = [ev.seq, ev.seq, 0]
            if len(self.runs) > self.limits.max_runs:
                self.runs.popitem(last=False)
        run[0] = min(run[0], ev.seq)
        run[1] = max(run[1], ev.seq)
        run[2] += 1

    def tick(self, now: float | None = None) -> None:
        """Time-driven updates: orders open past ``unfilled_order_after_s`` count once."""
        now = time.time() if now is None else now
        unfilled = self.families["unfilled_orders_total"]
        for bot in self.orders.overdue_since(now - self.limits.unfilled_order_after_s):
            unfilled.inc((bot,))

    def forget_bot(self, bot: str) -> None:
        """Drop every series and all state of a retired bot (its counters restart at 0)."""
        for fam in self.families.values():
            fam.forget_bot(bot)
        self.custom.forget_bot(bot)
        self.caps.forget_bot(bot)
        self.orders.forget_bot(bot)
        for state in (
            self.last_mark,
            self.last_account,
            self.last_heartbeat,
            self.ws_seen,
            self.health,
            self.reported_open_orders,
            self.position_keys,
            self.fee_tier,
            self.latest_order,
            self.latest_account,
        ):
            state.pop(bot, None)
        for key in [k for k in self.runs if k[0] == bot]:
            del self.runs[key]
        self.bots.discard(bot)
        self.generation += 1

    def set_alerts(self, firing: list[AlertChange]) -> None:
        """Replace the firing alerts (the alerts service's current list)."""
        self.families["alert_firing"].values = {
            (
                a.bot,
                a.rule,
                a.severity,
                ",".join(f"{k}={v}" for k, v in sorted(a.labels.items())),
            ): 1.0
            for a in firing
        }
