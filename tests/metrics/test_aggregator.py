"""Every catalog metric from hand-built events, with values worked out here; ages; caps."""

from __future__ import annotations

import math
import re

import pytest

from tradewire.consumers.metrics import Aggregator, Limits
from tradewire.schemas import (
    Account,
    BrokerCall,
    Cycle,
    DataQuality,
    DataQualityIssue,
    Envelope,
    Error,
    Fill,
    Guard,
    Heartbeat,
    Mark,
    Order,
    Position,
    Risk,
    Ws,
)
from tradewire.schemas._types import OrderStatus

T0 = 1_800_000_000.0


class Feed:
    def __init__(self, agg: Aggregator) -> None:
        self.agg = agg
        self.seq = 0

    def __call__(
        self, ev: Envelope, ts: float = T0, bot: str = "b1", now: float = T0, skip: int = 0
    ) -> bool:
        self.seq += 1 + skip
        ev.bot, ev.run, ev.seq, ev.ts, ev.id = bot, f"run-{bot}", self.seq, ts, f"e{self.seq}"
        return self.agg.apply(ev, now)


def value(agg: Aggregator, name: str, **labels: str) -> float:
    fam = agg.registry.families[name]
    key = tuple(labels[n] for n in fam.labels)
    return dict(fam.samples(T0 + 10))[key]


@pytest.fixture
def agg() -> Aggregator:
    a = Aggregator("tw")
    f = Feed(a)
    f(Heartbeat(uptime_s=5), ts=T0 - 30)
    f(Cycle(duration_s=0.2))
    f(Cycle(duration_s=3.0, ok=False, error_type="KeyError"))
    outcomes: list[tuple[str, OrderStatus, str]] = [
        ("o1", "submitted", "none"),
        ("o1", "accepted", "none"),
        ("o1", "filled", "none"),
        ("o2", "submitted", "none"),
        ("o2", "rejected", "insufficient_funds"),
        ("o3", "failed", "timeout"),
    ]
    for oid, status, reason in outcomes:
        f(
            Order(
                symbol="BTC-USD",
                side="buy",
                status=status,
                qty=1.0,
                order_id=oid,
                reason=reason,
                latency_s=0.3 if status != "submitted" else None,
                retries=1 if oid == "o3" else 0,
            )
        )
    f(Fill(symbol="BTC-USD", side="sell", qty=1, price=10, realized_pnl=5.0))
    f(Fill(symbol="BTC-USD", side="sell", qty=1, price=10, realized_pnl=-2.0))
    f(Fill(symbol="BTC-USD", side="buy", qty=1, price=10, realized_pnl=0.0))
    f(BrokerCall(operation="submit", latency_s=0.02))
    f(BrokerCall(operation="submit", latency_s=2.0, outcome="failure", reason="timeout"))
    f(Guard(guard="daily_loss", action="tripped", category="limit", recoverable=False))
    f(Guard(guard="daily_loss", action="cleared"))
    f(Guard(guard="mark_staleness", action="tripped", category="data"))
    f(
        Risk(
            daily_loss=40,
            daily_loss_limit=100,
            drawdown_pct=4.5,
            exposure_usd=900,
            circuit_breaker="half_open",
        )
    )
    f(
        Account(
            equity=1000,
            realized_pnl=30,
            unrealized_pnl=-5,
            funding_pnl=2,
            fees=3,
            positions=[
                Position(
                    symbol="BTC-USD",
                    qty=1,
                    side="long",
                    entry_price=100,
                    mark_price=95,
                    notional=95,
                    unrealized_pnl=-5,
                )
            ],
        ),
        ts=T0 - 60,
    )
    f(Mark(symbol="BTC-USD", price=95), ts=T0 - 2)
    f(Mark(symbol="ETH-USD", price=5), ts=T0 - 70)
    f(Ws(state="reconnecting", reconnect_count=1))
    f(Ws(state="connected", reconnect_count=1, gap_count=4))
    f(
        DataQuality(
            symbol="BTC-USD",
            interval="1m",
            score=0.7,
            issues=[
                DataQualityIssue(issue_type="gap", severity="high", count=2),
                DataQualityIssue(issue_type="spike", count=1),
            ],
        )
    )
    f(Error(component="strategy", error_type="KeyError"), skip=2)  # two events lost
    return a


def test_every_metric_from_hand_built_events(agg: Aggregator) -> None:
    def v(name: str, **kw: str) -> float:
        return value(agg, name, bot="b1", **kw)

    assert v("order_submission_total", result="success", reason="none", side="buy") == 1
    assert (
        v("order_submission_total", result="rejected", reason="insufficient_funds", side="buy") == 1
    )
    assert v("order_submission_total", result="failed", reason="timeout", side="buy") == 1
    assert v("orders_submitted_total") == 2
    h = agg.order_latency.hists[("b1", "success", "buy")]
    assert h.count == 1 and h.sum == 0.3  # "accepted" then "filled": one outcome
    b = agg.broker_latency.hists
    assert b[("b1", "submit", "success", "none")].count == 1
    assert b[("b1", "submit", "failure", "timeout")].sum == 2.0
    c = agg.cycle_duration.hists
    assert c[("b1", "ok")].sum == 0.2 and c[("b1", "error")].sum == 3.0
    assert v("cycle_errors_total") == 1
    assert v("guard_trips_total", guard="daily_loss", category="limit", recoverable="false") == 1
    assert v("guard_trips_total", guard="mark_staleness", category="data", recoverable="true") == 1
    assert v("stale_marks_total") == 1
    assert (
        v("risk_daily_loss"),
        v("risk_daily_loss_limit"),
        v("drawdown_pct"),
        v("exposure_usd"),
    ) == (40, 100, 4.5, 900)
    assert v("circuit_breaker_state") == 1 and v("circuit_breaker_triggered") == 1
    assert v("equity_dollars") == 1000
    assert (v("realized_pnl_usd"), v("unrealized_pnl_usd"), v("funding_pnl_usd")) == (30, -5, 2)
    assert v("total_pnl_usd") == 30 - 5 + 2 - 3
    assert v("symbol_exposure_usd", symbol="BTC-USD") == 95
    assert v("symbol_pnl_usd", symbol="BTC-USD") == -5
    assert v("win_rate") == 0.5  # one win, one loss; the opening fill does not count
    assert v("ws_connected") == 1 and v("ws_reconnects") == 1 and v("ws_gaps") == 4
    assert v("websocket_reconnects_total") == 1
    assert v("data_quality_score", symbol="BTC-USD", interval="1m") == 0.7
    assert v("data_quality_issues", symbol="BTC-USD", interval="1m") == 3
    assert (
        v(
            "data_quality_issues_total",
            symbol="BTC-USD",
            interval="1m",
            issue_type="gap",
            severity="high",
        )
        == 2
    )
    assert v("errors_total", component="strategy", error_type="KeyError") == 1
    # Ages at scrape time (now = T0 + 10).
    assert v("heartbeat_age_seconds") == 40 and v("bot_up") == 1
    assert v("telemetry_account_age_seconds") == 70
    assert v("market_data_staleness_seconds", symbol="BTC-USD") == 12
    assert v("market_data_staleness_seconds", symbol="ETH-USD") == 80
    assert v("ws_last_message_age_seconds") == 12 and v("ws_message_stale") == 0
    # The pipeline's own.
    assert v("pipeline_events_total", kind="order") == 6
    assert v("pipeline_lost_events") == 2
    assert agg.latency.hists[()].count == sum(agg.events_total.values.values())


def test_catalog_is_fully_covered(agg: Aggregator) -> None:
    empty = [
        n
        for n, f in agg.registry.families.items()
        if not (f.hists if f.kind == "histogram" else list(f.samples(T0)))
    ]
    # Only the quarantine, duplicate, overflow and lag series need other inputs, and
    # alert_firing comes from the alerts service (test_alert_firing_series below).
    assert sorted(empty) == [
        "alert_firing",
        "pipeline_consumer_lag",
        "pipeline_duplicates_total",
        "pipeline_label_overflow_total",
        "pipeline_quarantined_total",
    ]


def test_histograms_are_cumulative_and_end_at_count(agg: Aggregator) -> None:
    text = agg.registry.render(T0)
    buckets: dict[str, list[float]] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r'(\w+)_bucket\{(.*),le="[^"]+"\} (\S+)', line)
        if m:
            buckets.setdefault(m[1] + m[2], []).append(float(m[3]))
        m = re.match(r"(\w+)_count\{(.*)\} (\S+)", line)
        if m:
            counts[m[1] + m[2]] = float(m[3])
    assert buckets
    for key, series in buckets.items():
        assert series == sorted(series), key
        assert series[-1] == counts[key], key


def test_prefix_and_openmetrics(agg: Aggregator) -> None:
    om = agg.registry.render(T0, openmetrics=True)
    assert om.endswith("# EOF\n")
    assert "# TYPE tw_order_submission counter" in om
    assert "tw_order_submission_total{" in om
    gpt = Aggregator("gpt_trader")
    Feed(gpt)(Account(equity=1.0))
    assert 'gpt_trader_equity_dollars{bot="b1"} 1.0' in gpt.registry.render(T0)


def test_staleness_grows_and_resets() -> None:
    a = Aggregator()
    f = Feed(a)
    f(Mark(symbol="X", price=1), ts=T0)
    ages = [dict(a.staleness.samples(T0 + dt))[("b1", "X")] for dt in (1, 5, 30)]
    assert ages == [1, 5, 30]
    f(Mark(symbol="X", price=1), ts=T0 + 30, now=T0 + 30)  # aggregated when it was sent
    assert dict(a.staleness.samples(T0 + 31))[("b1", "X")] == 1
    assert dict(a.ws_stale.samples(T0 + 200))[("b1",)] == 1  # 170 s > 60 s


def test_redelivery_counts_once() -> None:
    a = Aggregator()
    ev = Order(
        symbol="X", side="buy", status="submitted", qty=1, id="r-1", bot="b1", run="r", seq=1, ts=T0
    )
    assert a.apply(ev, T0) and not a.apply(ev, T0)
    assert a.orders_submitted.values == {("b1",): 1}
    assert a.duplicates.values == {(): 1}


def test_label_cap_holds_under_10000_symbols() -> None:
    a = Aggregator(limits=Limits(max_label_values=50))
    f = Feed(a)
    for i in range(10_000):
        f(Mark(symbol=f"S{i}", price=1.0))
    f(Mark(symbol="Z", price=1.0), bot="b2")  # another bot keeps its own quota
    marks = a.last_mark["b1"]
    assert len(marks) == 51 and "other" in marks
    assert a.overflow.values[("b1", "symbol")] == 10_000 - 50
    assert "Z" in a.last_mark["b2"]
    text = a.registry.render(T0)
    assert text.count("tradewire_market_data_staleness_seconds{") == 52
    assert not math.isnan(a.overflow.values[("b1", "symbol")])


def test_signals_use_configured_thresholds(agg: Aggregator) -> None:
    from tradewire.consumers.metrics._signals import signals, summarize

    t = {
        "order_error_rate": (0.5, 0.9),
        "order_retry_rate": (0.1, 0.25),
        "broker_latency_p95_ms": (1000.0, 3000.0),
        "guard_trip_count": (3.0, 10.0),
    }
    by = {s["name"]: s for s in signals(agg, T0, t)}
    assert by["order_error_rate"]["value"] == pytest.approx(2 / 3)  # rejected + failed of 3
    assert by["order_error_rate"]["status"] == "WARN"
    assert by["order_retry_rate"]["status"] == "CRIT"  # 1 of 3 retried
    assert by["broker_latency_p95"]["value"] == pytest.approx((0.02 + 0.95 * (2.0 - 0.02)) * 1000)
    assert by["guard_trip_count"]["value"] == 2 and by["guard_trip_count"]["status"] == "OK"
    assert summarize(list(by.values()))["message"] == "1 critical signal(s), 2 warning(s)"
    t["order_error_rate"] = (0.9, 0.95)
    assert {s["name"]: s["status"] for s in signals(agg, T0, t)}["order_error_rate"] == "OK"


def test_alert_firing_series_replace_the_previous_set(agg: Aggregator) -> None:
    from tradewire.schemas import AlertChange

    def firing(bot: str, labels: dict[str, str]) -> AlertChange:
        return AlertChange(
            id=f"x-{bot}",
            fingerprint=f"x{bot}",
            rule="DataQualityLow",
            bot=bot,
            state="firing",
            severity="critical",
            ts=T0,
            labels=labels,
        )

    agg.set_alerts([firing("b1", {"symbol": "BTC-USD", "venue": "x"}), firing("b2", {})])
    text = agg.registry.render(T0)
    assert (
        'tw_alert_firing{bot="b1",alertname="DataQualityLow",severity="critical",'
        'labels="symbol=BTC-USD,venue=x"} 1.0' in text
    )
    assert 'bot="b2",alertname="DataQualityLow"' in text
    agg.set_alerts([firing("b2", {})])
    assert 'tw_alert_firing{bot="b1"' not in agg.registry.render(T0)


def test_a_clock_ahead_cannot_keep_a_bot_up_or_make_ages_negative() -> None:
    """A heartbeat stamped 100 s ahead (inside the decoder's clock_skew bound) counts as
    sent when it was aggregated: the bot goes down on time and no age is negative."""
    a = Aggregator(limits=Limits(bot_down_after_s=120))
    f = Feed(a)
    f(Heartbeat(), ts=T0 + 100, now=T0)
    f(Mark(symbol="X", price=1), ts=T0 + 100, now=T0)
    f(Account(equity=1.0), ts=T0 + 100, now=T0)
    for fam in (a.heartbeat_age, a.staleness, a.ws_age, a.account_age):
        assert [v for _, v in fam.samples(T0)] == [0.0], fam.name
    assert dict(a.bot_up.samples(T0 + 121))[("b1",)] == 0.0
    assert dict(a.heartbeat_age.samples(T0 + 121))[("b1",)] == 121.0


def test_an_unbounded_seq_cannot_take_the_scrape_down() -> None:
    """The decoder bounds seq to 63 bits; should a bigger one get in, the family it
    breaks is left out of the scrape instead of failing every scrape."""
    a = Aggregator("tw")
    Feed(a)(Heartbeat())
    huge = Heartbeat(id="h", bot="b2", run="r", seq=10**400, ts=T0)
    a.apply(huge, T0)
    text = a.registry.render(T0)
    assert 'tw_bot_up{bot="b2"} 1.0' in text
    assert "tw_pipeline_lost_events" not in text
