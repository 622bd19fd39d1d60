"""What the console's pages show, as JSON-ready data: the fleet table, one bot, the
alerts panel. Values are read from the metrics service's aggregation at request time,
the same numbers ``/metrics`` and ``/metrics.json`` show under tradewire's names.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from tradewire.schemas import AlertChange

from ._history import History

if TYPE_CHECKING:  # the metrics service imports this package: no import cycle at run time
    from tradewire.consumers.alerts import Silence
    from tradewire.consumers.metrics import Aggregator

__all__ = ["COLUMNS", "FleetView", "bot_status"]

# One row of the fleet table; /api/fleet sends rows as lists in this order.
COLUMNS = (
    "bot",
    "status",  # up, late, down, or unknown (no heartbeat yet): see bot_status
    "heartbeat_age_s",
    "equity",
    "day_pnl",
    "drawdown_pct",
    "breaker",  # closed, half_open, open
    "open_orders",
    "lost_events",
    "alerts",  # [[rule, severity, silenced], ...], the most severe first
)
_ORDER_FIELDS = ("ts", "symbol", "side", "status", "qty", "price", "reason", "latency_s")
_ERROR_FIELDS = ("ts", "component", "error_type", "message")
_BREAKER = {0.0: "closed", 1.0: "half_open", 2.0: "open"}
_SEVERITY = {"critical": 0, "warning": 1, "info": 2}
_DAY = 86400.0


def bot_status(age: float | None, down_after_s: float) -> str:
    """``down`` past ``down_after_s`` without a heartbeat (``bot_up`` 0, and the default
    BotDown rule's limit), ``late`` past half of it, else ``up``."""
    if age is None:
        return "unknown"
    if age > down_after_s:
        return "down"
    return "late" if age > down_after_s / 2 else "up"


def _by_bot(agg: Aggregator, name: str, now: float) -> dict[str, float]:
    return {key[0]: v for key, v in agg.families[name].samples(now)}


def _num(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) or math.isinf(x) else x


def _silenced_by(a: AlertChange, silences: list[Silence], now: float) -> Silence | None:
    return next((s for s in silences if s.active(now) and s.matches(a)), None)


def _alerts_by_bot(
    firing: list[AlertChange], silences: list[Silence], now: float
) -> dict[str, list[list[Any]]]:
    out: dict[str, list[list[Any]]] = defaultdict(list)
    for a in sorted(firing, key=lambda a: (_SEVERITY.get(a.severity, 3), a.rule)):
        out[a.bot].append([a.rule, a.severity, _silenced_by(a, silences, now) is not None])
    return out


class FleetView:
    """The fleet as the console shows it at ``now``: the aggregation's values, the alerts
    firing and the silences. The per-bot lookups are computed once for all rows."""

    def __init__(
        self,
        agg: Aggregator,
        history: History,
        *,
        firing: list[AlertChange],
        silences: list[Silence],
        now: float,
        down_after_s: float,
    ) -> None:
        self.agg, self.history, self.now, self.down_after_s = agg, history, now, down_after_s
        self.firing, self.silences = firing, silences
        self.ages = _by_bot(agg, "heartbeat_age_seconds", now)
        self.open_orders = _by_bot(agg, "open_orders", now)
        self.lost = _by_bot(agg, "pipeline_lost_events", now)
        f = agg.families
        self.equity, self.drawdown = f["equity_dollars"].values, f["drawdown_pct"].values
        self.breaker = f["circuit_breaker_state"].values
        self.bot_alerts = _alerts_by_bot(firing, silences, now)
        self.today = now // _DAY

    def row(self, bot: str) -> list[Any]:
        """One bot's row, in :data:`COLUMNS` order."""
        key = (bot,)
        age = self.ages.get(bot)
        h = self.history.bots.get(bot)
        day = h.day_pnl(self.today) if h is not None else None
        state = self.breaker.get(key)
        return [
            bot,
            bot_status(age, self.down_after_s),
            age,
            _num(self.equity.get(key)),
            _num(day[0]) if day else None,
            _num(self.drawdown.get(key)),
            None if state is None else _BREAKER.get(state, str(state)),
            self.open_orders.get(bot),
            self.lost.get(bot, 0.0),
            self.bot_alerts.get(bot, []),
        ]

    def rows(self) -> list[list[Any]]:
        """One row per bot the aggregation knows, sorted by bot."""
        return [self.row(bot) for bot in sorted(self.agg.bots)]

    def alerts(self) -> dict[str, list[dict[str, Any]]]:
        """Firing alerts (most severe first; each says which silence holds it, if one
        does), and the silences that have not ended."""
        now, silences = self.now, self.silences
        alerts = []
        for a in sorted(self.firing, key=lambda a: (_SEVERITY.get(a.severity, 3), a.rule, a.bot)):
            s = _silenced_by(a, silences, now)
            alerts.append(
                {
                    "rule": a.rule,
                    "bot": a.bot,
                    "severity": a.severity,
                    "labels": a.labels,
                    "value": _num(a.value),
                    "threshold": _num(a.threshold),
                    "since": a.active_since or a.ts,
                    "summary": a.summary,
                    "runbook": a.runbook,
                    "silenced_by": s.id if s else None,
                    "silenced_until": s.ends_at if s else None,
                }
            )
        live = [
            {
                "id": s.id,
                "rule": s.rule,
                "bot": s.bot,
                "labels": s.labels,
                "starts_at": s.starts_at,
                "ends_at": s.ends_at,
                "comment": s.comment,
                "created_by": s.created_by,
                "state": "active" if s.active(now) else "pending",
            }
            for s in sorted(silences, key=lambda s: s.ends_at)
            if s.ends_at > now
        ]
        return {"firing": alerts, "silences": live}

    def bot(self, bot: str) -> dict[str, Any] | None:
        """One bot: its row, chart series, recent orders and errors, alerts and
        positions; None when the aggregation does not know the bot."""
        if bot not in self.agg.bots:
            return None
        h = self.history.bots.get(bot)
        day = h.day_pnl(self.today) if h is not None else None
        return {
            "bot": bot,
            "row": self.row(bot),
            "day_pnl_since": day[1] if day else None,
            "step_s": self.history.step_s,
            "series": h.series(self.history.step_s) if h is not None else {},
            "orders": [
                dict(zip(_ORDER_FIELDS, o, strict=True))
                for o in reversed(h.orders if h is not None else ())
            ],
            "errors": [
                dict(zip(_ERROR_FIELDS, e, strict=True))
                for e in reversed(h.errors if h is not None else ())
            ],
            "alerts": [a for a in self.alerts()["firing"] if a["bot"] == bot],
            "positions": self.agg.latest_account.get(bot, {}).get("positions", []),
        }
