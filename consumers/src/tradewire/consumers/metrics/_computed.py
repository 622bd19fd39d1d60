"""Values worked out when ``/metrics`` is scraped: ages, staleness flags and ratios.

Ages are ``now - ts`` with the bot's clock on one side and this host's on the other;
a bot clock running ahead would make them negative, so they are clamped at 0.
These functions only read the aggregation, never change it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ._families import Labels, count

if TYPE_CHECKING:
    from ._aggregator import Aggregator

__all__ = ["install_computed"]

Samples = Iterable[tuple[Labels, float]]


def _ages(times: dict[str, float], now: float) -> Samples:
    return [((bot,), max(0.0, now - t)) for bot, t in times.items()]


def _last_message(a: Aggregator) -> dict[str, float]:
    """The latest market-data message per bot: its marks, or what its ws events report."""
    out = {bot: max(m.values()) for bot, m in a.last_mark.items() if m}
    for bot, seen in a.ws_seen.items():
        ts = seen[0]
        if ts is not None and ts > out.get(bot, 0.0):
            out[bot] = ts
    return out


def _ws_seen(a: Aggregator, i: int) -> dict[str, float]:
    return {bot: ts for bot, seen in a.ws_seen.items() if (ts := seen[i]) is not None}


def _flags(times: dict[str, float], now: float, limit: float, *, stale: float = 1.0) -> Samples:
    """``stale`` for each bot whose time is older than ``limit``, else ``1 - stale``."""
    return [((bot,), stale if now - t > limit else 1.0 - stale) for bot, t in times.items()]


def _staleness(a: Aggregator, now: float) -> Samples:
    return [
        ((bot, sym), max(0.0, now - t))
        for bot, marks in a.last_mark.items()
        for sym, t in marks.items()
    ]


def _lost(a: Aggregator, now: float) -> Samples:
    lost: dict[str, int] = defaultdict(int)
    for (bot, _), (low, high, seen) in a.runs.items():
        lost[bot] += max(0, high - low + 1 - seen)
    return [((bot,), count(n)) for bot, n in lost.items()]


def _win_rate(a: Aggregator, now: float) -> Samples:
    wins = a.families["winning_trades_total"].values
    losses = a.families["losing_trades_total"].values
    out = []
    for key in wins.keys() | losses.keys():
        w, n = wins.get(key, 0.0), losses.get(key, 0.0)
        out.append((key, w / (w + n)))
    return out


def _api_error_ratio(a: Aggregator, now: float) -> Samples:
    calls: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for key, n in a.families["api_requests_total"].values.items():
        c = calls[key[0]]
        c[0] += n
        if key[3] == "error":
            c[1] += n
    return [((bot,), errors / total) for bot, (total, errors) in calls.items() if total]


def _open_orders(a: Aggregator, now: float) -> Samples:
    counted = {**a.orders.per_bot, **a.reported_open_orders}  # the bot's own count wins
    return [((bot,), count(n)) for bot, n in counted.items()]


def _healthy(a: Aggregator, now: float) -> Samples:
    return [((bot,), 1.0 if max(c.values()) <= 1 else 0.0) for bot, c in a.health.items() if c]


def install_computed(a: Aggregator) -> None:
    """Attach the scrape-time functions to their families."""
    lim = a.limits
    table: dict[str, Callable[[float], Samples]] = {
        "heartbeat_age_seconds": lambda now: _ages(a.last_heartbeat, now),
        "bot_up": lambda now: _flags(a.last_heartbeat, now, lim.bot_down_after_s, stale=0.0),
        "bot_healthy": lambda now: _healthy(a, now),
        "telemetry_account_age_seconds": lambda now: _ages(a.last_account, now),
        "market_data_staleness_seconds": lambda now: _staleness(a, now),
        "ws_last_message_age_seconds": lambda now: _ages(_last_message(a), now),
        "ws_message_stale": lambda now: _flags(_last_message(a), now, lim.ws_stale_after_s),
        "ws_last_heartbeat_age_seconds": lambda now: _ages(_ws_seen(a, 1), now),
        "ws_heartbeat_stale": lambda now: _flags(
            _ws_seen(a, 1), now, lim.ws_heartbeat_stale_after_s
        ),
        "ws_last_close_age_seconds": lambda now: _ages(_ws_seen(a, 2), now),
        "ws_last_error_age_seconds": lambda now: _ages(_ws_seen(a, 3), now),
        "pipeline_lost_events": lambda now: _lost(a, now),
        "win_rate": lambda now: _win_rate(a, now),
        "api_error_ratio": lambda now: _api_error_ratio(a, now),
        "open_orders": lambda now: _open_orders(a, now),
    }
    for name, fn in table.items():
        a.families[name].computed = fn
