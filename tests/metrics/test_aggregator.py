"""Every catalog metric from hand-built events, with values worked out here; ages; caps."""

from __future__ import annotations

import math
import re

import pytest

from tradewire.consumers.metrics import Aggregator, Exposition, Limits, resolve_profiles
from tradewire.schemas import (
    Account,
    BrokerCall,
    Cycle,
    DataQuality,
    DataQualityIssue,
    Decision,
    Envelope,
    Error,
    Fill,
    Guard,
    GuardCheck,
    Health,
    Heartbeat,
    Lifecycle,
    Mark,
    Metric,
    Order,
    Position,
    Risk,
    StaleMark,
    UnfilledOrder,
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
        ev.bot, ev.run, ev.seq, ev.ts = bot, f"run-{bot}", self.seq, ts
        ev.id = f"{id(self)}-{self.seq}"  # unique per feed: a second feed is not a redelivery
        return self.agg.apply(ev, now)


def value(agg: Aggregator, name: str, **labels: str) -> float:
    fam = agg.families[name]
    key = tuple(labels[n] for n in fam.labels)
    return dict(fam.samples(T0 + 10))[key]


def render(agg: Aggregator, *profiles: str, prefix: str = "tw", om: bool = False) -> str:
    return Exposition(agg, resolve_profiles(profiles or ["tradewire"], prefix)).render(
        T0 + 10, openmetrics=om
    )


@pytest.fixture
def agg() -> Aggregator:
    a = Aggregator()
    f = Feed(a)
    f(Lifecycle(state="started"), ts=T0 - 40)
    f(
        Heartbeat(
            uptime_s=5,
            cpu_percent=12.5,
            memory_rss_bytes=3 * 2**20,
            memory_percent=1.5,
            open_files=9,
            threads=4,
            disk_percent=40.0,
            disk_used_bytes=2 * 2**30,
            net_sent_bytes=2**21,
            net_recv_bytes=2**22,
        ),
        ts=T0 - 30,
    )
    f(Health(status="degraded", component="feed"))
    f(Cycle(duration_s=0.2), ts=T0 - 1)
    f(Cycle(duration_s=3.0, ok=False, error_type="KeyError"))
    f(Decision(action="executed", symbol="BTC-USD", decision_id="d1"))
    f(Decision(action="blocked", gate="slippage_guard"))
    f(Decision(action="blocked", gate="slippage_guard"))
    outcomes: list[tuple[str, OrderStatus, str]] = [
        ("o1", "submitted", "none"),
        ("o1", "accepted", "none"),
        ("o1", "filled", "none"),
        ("o2", "submitted", "none"),
        ("o2", "rejected", "insufficient_funds"),
        ("o3", "failed", "timeout"),
        ("o4", "submitted", "none"),
        ("o5", "submitted", "none"),
        ("o5", "cancelled", "none"),
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
                decision_id="d1" if oid == "o1" else "",
            )
        )
    f(UnfilledOrder(order_id="o9", symbol="BTC-USD", age_s=700))
    f(Fill(symbol="BTC-USD", side="sell", qty=1, price=10, realized_pnl=5.0), ts=T0 - 100)
    f(Fill(symbol="BTC-USD", side="sell", qty=1, price=10, realized_pnl=-2.0), ts=T0 - 50)
    f(Fill(symbol="BTC-USD", side="buy", qty=1, price=10, realized_pnl=0.0, strategy="grid"))
    f(BrokerCall(operation="submit", latency_s=0.02, category="orders", endpoint="/orders"))
    f(
        BrokerCall(
            operation="submit",
            latency_s=2.0,
            outcome="failure",
            reason="timeout",
            category="orders",
            endpoint="/orders",
            retries=2,
            rate_limit_remaining=75,
            rate_limit_limit=100,
        )
    )
    f(BrokerCall(operation="preview", latency_s=0.1, outcome="failure", reason="order_preview"))
    f(BrokerCall(operation="preview", latency_s=0.1))
    f(Guard(guard="daily_loss", action="tripped", category="limit", recoverable=False))
    f(Guard(guard="daily_loss", action="cleared"))
    f(Guard(guard="mark_staleness", action="tripped", category="data"))
    f(GuardCheck(guard="mark_staleness", ok=False))
    f(GuardCheck(guard="slippage_guard", ok=False))
    f(GuardCheck(guard="ticker_freshness"))
    f(StaleMark(symbol="ETH-USD", age_s=70.0))
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
            fee_tier="advanced_1",
            limit_remaining=800.0,
        ),
        ts=T0 - 60,
    )
    f(Mark(symbol="BTC-USD", price=95), ts=T0 - 2)
    f(Mark(symbol="ETH-USD", price=5), ts=T0 - 70)
    f(Ws(state="reconnecting", reconnect_count=1))
    f(
        Ws(
            state="connected",
            reconnect_count=1,
            gap_count=4,
            last_heartbeat_ts=T0 - 45,
            last_close_ts=T0 - 20,
            last_error_ts=T0 - 25,
            heartbeat_lag_s=0.7,
        )
    )
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
    f(Metric(name="grid_levels_active", value=7.0))
    f(Metric(name="regime_changes_total", value=1.0, type="counter"))
    f(Metric(name="regime_changes_total", value=2.0, type="counter"))
    f(Metric(name="positions_fetch_seconds", value=0.3, type="histogram", labels={"result": "ok"}))
    f(Error(component="order_tooling", error_type="KeyError"), skip=2)  # two events lost
    return a


def test_every_metric_from_hand_built_events(agg: Aggregator) -> None:
    def v(name: str, **kw: str) -> float:
        return value(agg, name, bot="b1", **kw)

    f = agg.families
    assert v("order_submission_total", result="success", reason="none", side="buy") == 1
    assert (
        v("order_submission_total", result="rejected", reason="insufficient_funds", side="buy") == 1
    )
    assert v("order_submission_total", result="failed", reason="timeout", side="buy") == 1
    assert v("orders_submitted_total") == 4
    assert v("orders_cancelled_total") == 1
    assert v("order_missing_decision_id_total") == 3  # o2, o4, o5 carry no decision
    h = f["order_submission_latency_seconds"].hists[("b1", "success", "buy")]
    assert h.count == 1 and h.sum == 0.3  # "accepted" then "filled": one outcome
    b = f["broker_call_latency_seconds"].hists
    assert b[("b1", "submit", "success", "none")].count == 1
    assert b[("b1", "submit", "failure", "timeout")].sum == 2.0
    c = f["cycle_duration_seconds"].hists
    assert c[("b1", "ok")].sum == 0.2 and c[("b1", "error")].sum == 3.0
    assert v("cycle_errors_total") == 1
    assert v("last_cycle_duration_seconds") == 3.0 and v("last_cycle_timestamp_seconds") == T0
    assert v("trades_executed_total") == 1 and v("trades_blocked_total", gate="slippage_guard") == 2
    assert v("guard_trips_total", guard="daily_loss", category="limit", recoverable="false") == 1
    assert v("guard_trips_total", guard="mark_staleness", category="data", recoverable="true") == 1
    assert v("guard_checks_total", guard="mark_staleness", result="failure") == 1
    assert v("guard_checks_total", guard="ticker_freshness", result="success") == 1
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
    assert v("portfolio_return_ratio") == pytest.approx(24 / (1000 - 24))
    assert v("symbol_exposure_usd", symbol="BTC-USD") == 95
    assert v("symbol_pnl_usd", symbol="BTC-USD") == -5
    assert v("position_size", symbol="BTC-USD") == 1 and v("open_positions") == 1
    assert v("account_limit_remaining_usd") == 800 and v("fee_tier", tier="advanced_1") == 1
    # o4 is still open; o1 filled, o2 rejected, o3 never seen open, o5 cancelled.
    assert v("open_orders") == 1
    assert v("unfilled_orders_total") == 1  # o9, as the bot reported it
    assert v("fills_total", side="sell", strategy="") == 2
    assert v("fills_total", side="buy", strategy="grid") == 1
    assert v("winning_trades_total") == 1 and v("losing_trades_total") == 1
    assert v("win_rate") == 0.5  # one win, one loss; the opening fill does not count
    assert v("last_trade_timestamp_seconds") == T0
    assert v("api_requests_total", category="orders", endpoint="/orders", result="error") == 1
    assert v("api_requests_total", category="unknown", endpoint="unknown", result="error") == 1
    assert v("api_retries_total", category="orders", reason="timeout") == 2
    assert v("api_error_ratio") == 0.5  # 2 of 4 calls failed
    assert v("order_previews_total", result="failure") == 1
    assert v("rate_limit_remaining") == 75 and v("rate_limit_usage_ratio") == 0.25
    assert v("last_api_latency_seconds") == 0.1
    assert v("ws_connected") == 1 and v("ws_reconnects") == 1 and v("ws_gaps") == 4
    assert v("websocket_reconnects_total") == 1
    assert f["ws_heartbeat_lag_seconds"].hists[("b1",)].sum == 0.7
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
    assert v("errors_total", component="order_tooling", error_type="KeyError") == 1
    # Process vitals and the bot's own state.
    assert (v("process_cpu_percent"), v("process_memory_rss_bytes")) == (12.5, 3 * 2**20)
    assert (v("process_open_files"), v("process_threads"), v("disk_used_percent")) == (9, 4, 40)
    assert v("network_sent_bytes_total") == 2**21 and v("bot_uptime_seconds") == 5
    assert v("bot_running") == 1 and v("bot_healthy") == 1
    assert v("health_status", component="feed") == 1
    # Ages at scrape time (now = T0 + 10).
    assert v("heartbeat_age_seconds") == 40 and v("bot_up") == 1
    assert v("telemetry_account_age_seconds") == 70
    assert v("market_data_staleness_seconds", symbol="BTC-USD") == 12
    assert v("market_data_staleness_seconds", symbol="ETH-USD") == 80
    assert v("ws_last_message_age_seconds") == 12 and v("ws_message_stale") == 0
    assert v("ws_last_heartbeat_age_seconds") == 55 and v("ws_heartbeat_stale") == 1
    assert (v("ws_last_close_age_seconds"), v("ws_last_error_age_seconds")) == (30, 35)
    # Custom metrics.
    custom = agg.custom.families
    assert custom["grid_levels_active"].values == {("b1", ()): 7.0}
    assert custom["regime_changes_total"].values == {("b1", ()): 3.0}
    assert custom["positions_fetch_seconds"].hists[("b1", (("result", "ok"),))].count == 1
    # The pipeline's own.
    assert v("pipeline_events_total", kind="order") == 9
    assert v("pipeline_lost_events") == 2
    assert f["pipeline_event_latency_seconds"].hists[()].count == sum(
        f["pipeline_events_total"].values.values()
    )


# Families bot events do not fill: refusals, redeliveries, and the alerts service's
# firing alerts (test_alert_firing_series below). The consumer's lag is the runtime's.
NOT_FROM_EVENTS = {
    "alert_firing",
    "custom_metrics_refused_total",
    "pipeline_duplicates_total",
    "pipeline_label_overflow_total",
    "pipeline_quarantined_total",
}


def empty_families(agg: Aggregator, now: float) -> set[str]:
    return {
        n
        for n, f in agg.families.items()
        if not (f.hists if f.kind == "histogram" else list(f.samples(now)))
    }


def test_catalog_is_fully_covered(agg: Aggregator) -> None:
    assert empty_families(agg, T0) == NOT_FROM_EVENTS


def test_histograms_are_cumulative_and_end_at_count(agg: Aggregator) -> None:
    text = render(agg, "all")
    buckets: dict[str, list[float]] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r'(\w+)_bucket\{(.*),le="[^"]+"\} (\S+)', line)
        if m:
            buckets.setdefault(m[1] + m[2], []).append(float(m[3]))
        m = re.match(r"(\w+)_count\{(.*)\} (\S+)", line)
        if m:
            counts[m[1] + m[2]] = float(m[3])
    assert len(buckets) > 10
    for key, series in buckets.items():
        assert series == sorted(series), key
        assert series[-1] == counts[key], key


def test_prefix_and_openmetrics(agg: Aggregator) -> None:
    om = render(agg, om=True)
    assert om.endswith("# EOF\n")
    assert "# TYPE tw_order_submission counter" in om
    assert "tw_order_submission_total{" in om
    # data_quality_issues is a gauge, so its _total counter keeps the full name.
    assert "# TYPE tw_data_quality_issues_total unknown" in om
    assert "# TYPE tw_data_quality_issues gauge" in om
    text = render(agg, prefix="fleet")
    assert 'fleet_equity_dollars{bot="b1"} 1000.0' in text
    assert "fleet_custom_grid_levels_active" in text
    assert 'fleet_custom_regime_changes_total{bot="b1"} 3.0' in text
    assert "tw_" not in text and "gpt_trader_" not in text


def test_staleness_grows_and_resets() -> None:
    a = Aggregator()
    f = Feed(a)
    staleness = a.families["market_data_staleness_seconds"]
    f(Mark(symbol="X", price=1), ts=T0)
    ages = [dict(staleness.samples(T0 + dt))[("b1", "X")] for dt in (1, 5, 30)]
    assert ages == [1, 5, 30]
    f(Mark(symbol="X", price=1), ts=T0 + 30, now=T0 + 30)  # aggregated when it was sent
    assert dict(staleness.samples(T0 + 31))[("b1", "X")] == 1
    assert dict(a.families["ws_message_stale"].samples(T0 + 200))[("b1",)] == 1  # 170 s > 60 s


def test_redelivery_counts_once() -> None:
    a = Aggregator()
    ev = Order(
        symbol="X", side="buy", status="submitted", qty=1, id="r-1", bot="b1", run="r", seq=1, ts=T0
    )
    assert a.apply(ev, T0) and not a.apply(ev, T0)
    assert a.families["orders_submitted_total"].values == {("b1",): 1}
    assert a.families["pipeline_duplicates_total"].values == {(): 1}


def test_a_run_under_way_at_start_counts_only_holes_after_its_first_event() -> None:
    """After a restart the service first sees a run at some seq (its counters start at
    zero): the events before that one were counted by the process before, not lost.
    Found by the soak (benchmarks/soak.py): each metrics restart reported every event
    a bot had sent until then as lost."""
    a = Aggregator()
    f = Feed(a)
    for i in range(5):
        f(Heartbeat(), skip=999 if i == 0 else 0)  # seq 1000 .. 1004
    assert value(a, "pipeline_lost_events", bot="b1") == 0
    f(Heartbeat(), skip=2)  # 1005 and 1006 never arrive
    f(Heartbeat())
    assert value(a, "pipeline_lost_events", bot="b1") == 2
    late = Heartbeat(id="late", bot="b1", run="run-b1", seq=998, ts=T0)  # re-sent, late
    assert a.apply(late, T0)
    assert value(a, "pipeline_lost_events", bot="b1") == 3  # 999 is missing now


def test_label_cap_holds_under_10000_symbols() -> None:
    a = Aggregator(limits=Limits(max_label_values=50))
    f = Feed(a)
    for i in range(10_000):
        f(Mark(symbol=f"S{i}", price=1.0))
    f(Mark(symbol="Z", price=1.0), bot="b2")  # another bot keeps its own quota
    marks = a.last_mark["b1"]
    assert len(marks) == 51 and "other" in marks
    overflow = a.families["pipeline_label_overflow_total"].values
    assert overflow[("b1", "symbol")] == 10_000 - 50
    assert "Z" in a.last_mark["b2"]
    text = render(a, prefix="tradewire")
    assert text.count("tradewire_market_data_staleness_seconds{") == 52
    assert not math.isnan(overflow[("b1", "symbol")])


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
    text = render(agg)
    assert (
        'tw_alert_firing{bot="b1",alertname="DataQualityLow",severity="critical",'
        'labels="symbol=BTC-USD,venue=x"} 1.0' in text
    )
    assert 'bot="b2",alertname="DataQualityLow"' in text
    agg.set_alerts([firing("b2", {})])
    assert 'tw_alert_firing{bot="b1"' not in render(agg)


def test_a_clock_ahead_cannot_keep_a_bot_up_or_make_ages_negative() -> None:
    """A heartbeat stamped 100 s ahead (inside the decoder's clock_skew bound) counts as
    sent when it was aggregated: the bot goes down on time and no age is negative."""
    a = Aggregator(Limits(bot_down_after_s=120))
    f = Feed(a)
    f(Heartbeat(), ts=T0 + 100, now=T0)
    f(Mark(symbol="X", price=1), ts=T0 + 100, now=T0)
    f(Account(equity=1.0), ts=T0 + 100, now=T0)
    ages = (
        "heartbeat_age_seconds",
        "market_data_staleness_seconds",
        "ws_last_message_age_seconds",
        "telemetry_account_age_seconds",
    )
    for name in ages:
        assert [v for _, v in a.families[name].samples(T0)] == [0.0], name
    assert dict(a.families["bot_up"].samples(T0 + 121))[("b1",)] == 0.0
    assert dict(a.families["heartbeat_age_seconds"].samples(T0 + 121))[("b1",)] == 121.0


def test_an_unbounded_seq_cannot_take_the_scrape_down() -> None:
    """The decoder bounds seq to 63 bits; should a bigger one get in, counts are capped
    and the scrape still answers for every bot."""
    a = Aggregator()
    Feed(a)(Heartbeat())
    huge = Heartbeat(id="h", bot="b2", run="r", seq=10**400, ts=T0)
    a.apply(huge, T0)
    text = render(a)
    assert 'tw_bot_up{bot="b2"} 1.0' in text and 'tw_bot_up{bot="b1"} 1.0' in text
