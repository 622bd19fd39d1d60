"""The console's per-bot history: bounded, by event time, and what each chart shows."""

from __future__ import annotations

import math

from tradewire.consumers.console import SERIES, History, bot_status
from tradewire.schemas import Account, BrokerCall, Cycle, Envelope, Error, Mark, Order

DAY = 86400.0
T0 = 1_800_000_000.0 - 1_800_000_000.0 % DAY  # a UTC midnight


def ev(event: Envelope, bot: str, ts: float) -> Envelope:
    event.bot, event.ts = bot, ts
    return event


def test_buckets_hold_the_last_snapshot_and_the_mean_and_max_of_latencies() -> None:
    h = History(points=10, step_s=5.0)
    for ts, eq in ((T0 + 1, 100.0), (T0 + 3, 110.0), (T0 + 2, 999.0), (T0 + 6, 120.0)):
        h.observe(ev(Account(equity=eq, realized_pnl=eq - 100, fees=1.0), "a", ts), T0 + 60)
    for ts, d in ((T0 + 1, 0.1), (T0 + 2, 0.3), (T0 + 7, 0.2)):
        h.observe(ev(Cycle(duration_s=d), "a", ts), T0 + 60)
        h.observe(ev(BrokerCall(operation="submit", latency_s=d * 10), "a", ts), T0 + 60)
    s = h.bots["a"].series(5.0)
    assert set(s) == set(SERIES)
    assert s["t"] == [T0, T0 + 5]
    # The later snapshot of a bucket wins, even when an earlier one arrives after it.
    assert s["equity"] == [110.0, 120.0]
    assert s["pnl"] == [9.0, 19.0]  # realized - fees, as total_pnl_usd
    assert s["cycle_mean_s"] == [0.2, 0.2] and s["cycle_max_s"] == [0.3, 0.2]
    assert s["broker_mean_s"] == [2.0, 2.0] and s["broker_max_s"] == [3.0, 2.0]


def test_the_ring_is_bounded_and_events_older_than_it_are_left_out() -> None:
    h = History(points=4, step_s=1.0)
    for i in range(100):
        h.observe(ev(Cycle(duration_s=1.0), "a", T0 + i), T0 + 200)
    bot = h.bots["a"]
    assert len(bot.data) == 4 * 10  # fixed size, whatever came in
    assert bot.series(1.0)["t"] == [T0 + 96, T0 + 97, T0 + 98, T0 + 99]
    h.observe(ev(Cycle(duration_s=9.0), "a", T0 + 10), T0 + 200)  # long gone: dropped
    assert bot.series(1.0)["cycle_max_s"] == [1.0] * 4
    h.observe(ev(Cycle(duration_s=5.0), "a", T0 + 97.5), T0 + 200)  # late, still held
    assert bot.series(1.0)["cycle_max_s"] == [1.0, 5.0, 1.0, 1.0]


def test_a_bot_clock_ahead_counts_as_now() -> None:
    h = History(points=4, step_s=1.0)
    h.observe(ev(Cycle(duration_s=1.0), "a", T0 + 10_000), T0 + 10)
    h.observe(ev(Cycle(duration_s=2.0), "a", T0 + 9), T0 + 10)
    assert h.bots["a"].series(1.0)["t"] == [T0 + 9, T0 + 10]


def test_day_pnl_counts_from_the_first_snapshot_of_the_utc_day() -> None:
    h = History()
    for ts, realized in ((T0 - 10, 50.0), (T0 + 100, 70.0), (T0 + 50, 60.0), (T0 + 200, 65.0)):
        h.observe(ev(Account(equity=1000.0, realized_pnl=realized), "a", ts), T0 + 300)
    bot = h.bots["a"]
    # Yesterday's snapshot is not today's base; the earliest of today is, even if late.
    assert bot.day_pnl(T0 // DAY) == (5.0, T0 + 50)
    assert bot.day_pnl(T0 // DAY + 1) is None  # no snapshot yet on the next day


def test_recent_orders_and_errors_are_kept_up_to_a_bound_and_other_kinds_ignored() -> None:
    h = History(recent=3)
    for i in range(5):
        h.observe(
            ev(Order(symbol="BTC-USD", side="buy", status="filled", qty=i), "a", T0 + i), T0 + 9
        )
        h.observe(ev(Error(component="api", error_type="E", message="x" * 1000), "a", T0), T0)
    h.observe(ev(Mark(symbol="BTC-USD", price=1.0), "b", T0), T0)
    bot = h.bots["a"]
    assert [o[4] for o in bot.orders] == [2, 3, 4]
    assert len(bot.errors) == 3 and len(bot.errors[0][3]) == 300
    assert "b" not in h.bots  # marks draw no chart: no history kept for them
    h.keep_only(["b"])
    assert h.bots == {}


def test_an_empty_bucket_shows_no_value() -> None:
    h = History(points=4, step_s=1.0)
    h.observe(ev(Cycle(duration_s=1.0), "a", T0), T0)
    s = h.bots["a"].series(1.0)
    assert s["equity"] == [None] and s["broker_mean_s"] == [None] and s["broker_max_s"] == [None]
    assert not any(isinstance(v, float) and math.isnan(v) for v in s["equity"])


def test_status_from_the_heartbeat_age() -> None:
    assert bot_status(None, 120) == "unknown"
    assert bot_status(10, 120) == "up"
    assert bot_status(61, 120) == "late"
    assert bot_status(120, 120) == "late"  # bot_up turns 0 only past the limit
    assert bot_status(121, 120) == "down"
