"""Naming profiles: each seed name shows the right number, in the seed's unit; custom
metrics, unfilled orders, forgetting a bot, and inputs a hostile bot could send."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.metrics.test_aggregator import T0, Feed, agg, render
from tradewire.consumers.metrics import (
    PROFILES,
    Aggregator,
    Limits,
    MetricsConfig,
    load_metrics_config,
    resolve_profiles,
)
from tradewire.consumers.metrics._profiles import SEED_PROFILES
from tradewire.consumers.runtime import ConfigError
from tradewire.schemas import (
    Account,
    BrokerCall,
    Cycle,
    DataQuality,
    DataQualityIssue,
    Heartbeat,
    Mark,
    Metric,
    Order,
    Position,
    UnfilledOrder,
    Ws,
)

__all__ = ["agg"]  # the fixture, shared with test_aggregator


Got = dict[str, dict[tuple[tuple[str, str], ...], float]]


def samples(text: str) -> Got:
    """name -> {sorted labels: value}, read back with prometheus_client's parser.

    That parser reads a counter written without ``_total`` (``bot_total_trades``, as the
    seeds name it) as ``bot_total_trades_total``; both spellings are kept here.
    """
    out: Got = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            labels = tuple(sorted(s.labels.items()))
            out.setdefault(s.name, {})[labels] = s.value
            if fam.type == "counter" and s.name == f"{fam.name}_total":
                out.setdefault(fam.name, {})[labels] = s.value
    return out


def one(got: Got, name: str, **labels: str) -> float:
    return got[name][tuple(sorted({"bot": "b1", **labels}.items()))]


def test_every_seed_name_has_data(agg: Aggregator) -> None:
    got = samples(render(agg, "all"))
    missing = [
        name
        for p in SEED_PROFILES
        for name in [*(e.name for e in p.exposures), *(c.name for c in p.customs)]
        if name not in got and f"{name}_count" not in got
    ]
    # Custom names come only from bots that send them: the fixture sends one per profile.
    sent = {"grid_levels_active", "regime_changes_total", "positions_fetch_seconds"}
    unsent = {c.name for p in SEED_PROFILES for c in p.customs if c.metric not in sent}
    assert set(missing) == unsent


def test_units_and_label_selections_are_the_seeds(agg: Aggregator) -> None:
    got = samples(render(agg, "all"))
    assert one(got, "bot_win_rate_percent") == 50.0  # tradewire's win_rate is 0.5
    assert one(got, "bot_portfolio_return_percent") == pytest.approx(100 * 24 / 976)
    assert one(got, "bot_portfolio_drawdown_percent") == 4.5
    assert one(got, "coinbase_trader_cycle_latency_ms") == 3000.0
    assert one(got, "coinbase_trader_metrics_timestamp_seconds") == T0
    assert one(got, "gpt_trader_process_memory_mb") == 3.0
    assert one(got, "coinbase_trader_disk_used_gigabytes") == 2.0
    assert one(got, "coinbase_trader_network_sent_megabytes") == 2.0
    assert one(got, "coinbase_trader_network_received_megabytes") == 4.0
    assert one(got, "coinbase_trader_cpu_percent") == 12.5
    assert one(got, "coinbase_trader_account_limit_remaining") == 800.0
    assert one(got, "coinbase_trader_order_preview_failures_total") == 1
    assert one(got, "gpt_trader_validation_order_preview_failed_total") == 1
    assert one(got, "gpt_trader_validation_mark_staleness_check_failed_total") == 1
    assert one(got, "gpt_trader_validation_slippage_guard_check_failed_total") == 1
    assert one(got, "gpt_trader_ticker_freshness_checks_total", result="success") == 1
    assert one(got, "coinbase_trader_order_tooling_errors_total") == 1
    assert one(got, "bot_failed_orders_total") == 2  # rejected + failed
    assert one(got, "bot_total_orders_total") == 4
    assert one(got, "bot_canceled_orders_total") == 1
    assert one(got, "bot_total_trades") == 3 and one(got, "bot_winning_trades") == 1
    assert one(got, "traderagent_total_trades", strategy="grid") == 1
    assert one(got, "bot_api_errors_total", endpoint="/orders") == 1
    assert one(got, "bot_api_requests_total", endpoint="/orders") == 2
    assert one(got, "bot_api_request_duration_seconds_count", endpoint="/orders") == 2
    assert one(got, "gpt_trader_api_requests_total", category="unknown", result="success") == 1
    assert one(got, "bot_api_rate_limit_remaining") == 75
    assert one(got, "bot_last_trade_timestamp") == T0
    assert one(got, "bot_position_size_quote", symbol="BTC-USD") == 95
    assert (
        one(got, "traderagent_health_status") == 1 and one(got, "traderagent_strategy_active") == 1
    )
    assert (
        one(got, "gpt_trader_ws_gap_count") == 4 and one(got, "gpt_trader_ws_reconnect_count") == 1
    )
    assert one(got, "coinbase_trader_fee_tier", tier="advanced_1") == 1
    # Custom metrics, under every prefix of every profile.
    for name in ("bot_grid_levels_active", "traderagent_grid_levels_active"):
        assert one(got, name) == 7
    assert one(got, "gpt_trader_regime_changes_total") == 3
    assert one(got, "tw_custom_positions_fetch_seconds_count", result="ok") == 1


def test_one_profile_at_a_time(agg: Aggregator) -> None:
    from tradewire.consumers.metrics import Exposition

    x = Exposition(agg, resolve_profiles(["all"]))
    only = x.render(T0, only="traderagent")
    assert "bot_portfolio_value_usdt" in only and "traderagent_portfolio_value" in only
    assert "gpt_trader_" not in only and "tw_" not in only
    assert set(samples(only)) < set(samples(x.render(T0)))


def test_resolve_profiles() -> None:
    assert [p.name for p in resolve_profiles(["all"])] == list(PROFILES)
    assert [p.name for p in resolve_profiles(["bot", "traderagent"])] == ["traderagent"]
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        resolve_profiles(["tradewire", "nope"])
    with pytest.raises(ValueError, match="no profile"):
        resolve_profiles([])
    # tradewire's names under another profile's prefix would shadow it.
    with pytest.raises(ValueError, match="change metric_prefix"):
        resolve_profiles(["all"], metric_prefix="gpt_trader")
    resolve_profiles(["tradewire"], metric_prefix="gpt_trader")  # alone it is fine


def test_config_takes_a_list_or_a_comma_separated_string(tmp_path: Path) -> None:
    assert MetricsConfig(profiles="tradewire, bot").profile_names() == ["tradewire", "bot"]
    env = {"TRADEWIRE_METRICS_PROFILES": "gpt_trader,bot"}
    assert load_metrics_config(None, {}, env).profile_names() == ["gpt_trader", "bot"]
    toml = tmp_path / "m.toml"
    toml.write_text('[metrics]\nprofiles = ["tradewire", "coinbase_trader"]\n')
    config = load_metrics_config(toml, {}, {})
    assert [p.name for p in config.profile_set()] == ["tradewire", "coinbase_trader"]
    with pytest.raises(ConfigError, match="profiles: unknown profile 'nope'"):
        load_metrics_config(None, {"profiles": "nope"}, {})
    assert [p.name for p in MetricsConfig(profiles=["all"]).profile_set()][-1] == "traderagent"
    with pytest.raises(ValueError, match="profiles: unknown profile 'x'"):
        MetricsConfig(profiles="x")


def test_custom_metrics_are_bounded_and_typed() -> None:
    a = Aggregator(Limits(max_label_values=3, max_custom_metrics=4))
    f = Feed(a)
    f(Metric(name="grid_levels_active", value=4))
    f(Metric(name="grid_levels_active", value=1, type="counter"))  # type differs
    f(Metric(name="equity", value=1))  # coinbase_trader_equity is a catalog name
    f(Metric(name="portfolio_value_usdt", value=1))  # so is bot_portfolio_value_usdt
    f(Metric(name="steps", value=1, type="counter"))  # tradewire shows it as steps_total
    f(Metric(name="steps_total", value=1))
    for i in range(5):
        f(Metric(name="per_pair", value=i, labels={"pair": f"P{i}"}))
    f(Metric(name="third", value=1))
    f(Metric(name="fourth", value=1))  # the fifth name
    refused = a.families["custom_metrics_refused_total"].values
    assert refused == {
        ("b1", "type_conflict"): 1,
        ("b1", "reserved_name"): 2,
        ("b1", "name_conflict"): 1,
        ("b1", "too_many_series"): 2,
        ("b1", "too_many_names"): 1,
    }
    per_pair = a.custom.families["per_pair"].values
    # Three label sets; the fourth and fifth values become "other" (capped like any
    # label), which would be a fourth set: refused.
    assert sorted(per_pair) == [("b1", (("pair", v),)) for v in ("P0", "P1", "P2")]
    assert a.families["pipeline_label_overflow_total"].values == {("b1", "per_pair.pair"): 2}
    assert set(a.custom.families) == {"grid_levels_active", "steps", "per_pair", "third"}
    text = render(a, "all", prefix="tradewire")
    assert 'tradewire_custom_steps_total{bot="b1"} 1.0' in text
    assert 'bot_steps{bot="b1"} 1.0' in text and "# TYPE bot_steps counter" in text
    assert "equity{" not in text.replace("_equity", "")  # only the catalog's equity


def test_unfilled_orders_by_age_and_by_report_count_each_order_once() -> None:
    a = Aggregator(Limits(unfilled_order_after_s=300))
    f = Feed(a)
    unfilled = a.families["unfilled_orders_total"].values
    for oid in ("a", "b", "c"):
        f(Order(symbol="X", side="buy", status="accepted", qty=1, order_id=oid), ts=T0)
    f(Order(symbol="X", side="buy", status="filled", qty=1, order_id="c"), ts=T0 + 10)
    a.tick(T0 + 299)
    assert unfilled == {}
    f(UnfilledOrder(order_id="a", symbol="X", age_s=320), ts=T0 + 320)  # the bot says so
    f(UnfilledOrder(order_id="a", symbol="X", age_s=330), ts=T0 + 330)  # ... twice
    assert unfilled == {("b1",): 1}
    a.tick(T0 + 301)  # b is overdue now; a was counted already, c is done
    a.tick(T0 + 900)
    assert unfilled == {("b1",): 2}
    assert dict(a.families["open_orders"].samples(T0)) == {("b1",): 2}  # a and b
    f(Order(symbol="X", side="buy", status="cancelled", qty=1, order_id="b"), ts=T0 + 901)
    assert dict(a.families["open_orders"].samples(T0)) == {("b1",): 1}


def test_closed_positions_and_old_fee_tiers_go() -> None:
    a = Aggregator()
    f = Feed(a)

    def pos(symbol: str) -> Position:
        return Position(symbol=symbol, qty=2, side="long", entry_price=1, mark_price=1)

    f(Account(equity=1, positions=[pos("A"), pos("B")], fee_tier="t1"))
    f(Account(equity=1, positions=[pos("B")], fee_tier="t2"), bot="b2")
    f(Account(equity=1, positions=[pos("B")], fee_tier="t2"))
    assert a.families["position_size"].values == {("b1", "B"): 2, ("b2", "B"): 2}
    assert a.families["fee_tier"].values == {("b1", "t2"): 1, ("b2", "t2"): 1}
    f(Account(equity=1))
    assert a.families["symbol_exposure_usd"].values == {("b2", "B"): 0.0}
    assert dict(a.families["open_positions"].samples(T0)) == {("b1",): 0, ("b2",): 1}


def test_forget_bot_drops_every_series_and_state(agg: Aggregator) -> None:
    f = Feed(agg)
    f(Cycle(duration_s=0.1), bot="b2")
    f(Metric(name="grid_levels_active", value=2), bot="b2")
    before = render(agg, "all")
    assert 'bot="b1"' in before
    agg.forget_bot("b1")
    after = render(agg, "all")
    assert 'bot="b1"' not in after and 'bot="b2"' in after
    assert "b1" not in agg.bots and not any(k[0] == "b1" for k in agg.runs)
    f(Cycle(duration_s=0.1))  # b1 comes back: it starts from zero
    assert agg.families["cycle_errors_total"].values == {}
    assert agg.families["pipeline_events_total"].values[("b1", "cycle")] == 1


def test_hostile_seq_and_clocks_ahead_do_not_break_the_scrape() -> None:
    a = Aggregator()
    f = Feed(a)
    f(Heartbeat(), ts=T0 + 3600)  # the bot's clock runs an hour ahead
    f(Mark(symbol="X", price=1), ts=T0 + 3600)
    assert a.apply(Heartbeat(id="h0", bot="b1", run="r", seq=1, ts=T0), T0)
    ev = Heartbeat(id="h", bot="b1", run="r", seq=10**400, ts=T0, open_files=10**400)
    assert a.apply(ev, T0)
    huge = 10**400
    f(Ws(state="reconnecting", reconnect_count=huge, gap_count=huge))
    f(
        BrokerCall(
            operation="submit",
            latency_s=0.1,
            retries=huge,
            rate_limit_remaining=huge,
            rate_limit_limit=1,
        )
    )
    f(DataQuality(symbol="X", score=1, issues=[DataQualityIssue(issue_type="gap", count=huge)]))
    text = render(a)
    assert 'tw_process_open_files{bot="b1"} 9007199254740992.0' in text
    assert 'tw_ws_gaps{bot="b1"} 9007199254740992.0' in text
    assert 'tw_pipeline_lost_events{bot="b1"} 9007199254740992.0' in text
    # A clock ahead counts only up to when the event was folded in (T0): 10 s at T0 + 10.
    assert 'tw_heartbeat_age_seconds{bot="b1"} 10.0' in text
    assert 'tw_market_data_staleness_seconds{bot="b1",symbol="X"} 10.0' in text
