"""The incidents scenario, on a simulated clock: it fills every metric, crosses every seed
threshold on the bot playing that incident, and fires every default alert rule."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import pytest

from tests.metrics.test_aggregator import NOT_FROM_EVENTS, empty_families
from tests.metrics.test_profiles import samples
from tradewire.consumers.alerts import DEFAULT_RULES, load_rules
from tradewire.consumers.alerts._engine import Engine
from tradewire.consumers.metrics import Aggregator, Exposition, resolve_profiles
from tradewire.consumers.metrics._profiles import SEED_PROFILES
from tradewire.consumers.simulate import IncidentModel, SimulationConfig
from tradewire.schemas import Account, AlertChange, Envelope

T0 = 1_800_000_000.0
CALM = "sim-bot-5"


class Fleet:
    """The scenario's bots, stepped by hand: ``passes`` trading-loop passes per second."""

    def __init__(self, passes: int = 1) -> None:
        self.now = T0
        self.passes = passes
        self.models = SimulationConfig(bots=5, scenario="incidents").models()
        for m in self.models:
            if isinstance(m, IncidentModel):
                m.clock = lambda: self.now
        self.seq: dict[str, int] = defaultdict(int)

    def second(self) -> Iterator[Envelope]:
        """One simulated second of events, stamped as the publisher would."""
        self.now += 1.0
        for m in self.models:
            for _ in range(self.passes):
                for ev in m.cycle():
                    self.seq[m.bot] += 1
                    n = self.seq[m.bot]
                    ev.bot, ev.run, ev.seq, ev.id = m.bot, f"r-{m.bot}", n, f"{m.bot}-{n}"
                    ev.ts = ev.ts or self.now
                    yield ev


@pytest.fixture(scope="module")
def run() -> tuple[Aggregator, dict[str, set[tuple[str, str]]], float]:
    """Seven simulated minutes through the aggregator and the default rules' engine."""
    fleet = Fleet()
    agg = Aggregator()
    engine = Engine(load_rules(DEFAULT_RULES).rules)
    fired: dict[str, set[tuple[str, str]]] = defaultdict(set)

    def note(changes: list[AlertChange]) -> None:
        for c in changes:
            if c.state == "firing":
                fired[c.rule].add((c.bot, c.severity))

    for _ in range(420):
        for ev in fleet.second():
            agg.apply(ev, fleet.now)
            note(engine.observe(ev, fleet.now))
        agg.tick(fleet.now)
        note(engine.tick(fleet.now))
    return agg, fired, fleet.now


def test_it_fills_every_metric_and_seed_name(run: tuple[Aggregator, object, float]) -> None:
    agg, _, now = run
    assert empty_families(agg, now) == NOT_FROM_EVENTS
    got = samples(Exposition(agg, resolve_profiles(["all"])).render(now))
    names = [
        n
        for p in SEED_PROFILES
        for n in [*(e.name for e in p.exposures), *(c.name for c in p.customs)]
    ]
    assert [n for n in names if n not in got and f"{n}_count" not in got] == []


def test_each_incident_crosses_the_seed_thresholds(run: tuple[Aggregator, object, float]) -> None:
    agg, _, now = run

    def v(name: str, bot: str, **labels: str) -> float:
        fam = agg.families[name]
        key = tuple({"bot": bot, **labels}[n] for n in fam.labels)
        return dict(fam.samples(now))[key]

    risk, broker, feed, halted = (f"sim-bot-{i}" for i in range(1, 5))
    assert v("risk_daily_loss", risk) / v("risk_daily_loss_limit", risk) > 0.8
    assert v("drawdown_pct", risk) > 20 and v("circuit_breaker_state", risk) == 2
    assert v("bot_running", risk) == 0 and v("bot_healthy", risk) == 0
    submits = agg.families["broker_call_latency_seconds"].hists
    slow = submits[(broker, "submit", "failure", "timeout")]
    assert slow.sum / slow.count > 5.5  # every submit takes 5.5-9.5 s
    outcomes = agg.families["order_submission_total"].values
    failed = sum(n for k, n in outcomes.items() if k[0] == broker and k[1] != "success")
    assert failed / sum(n for k, n in outcomes.items() if k[0] == broker) > 0.5
    assert v("rate_limit_remaining", broker) < 100
    assert v("account_limit_remaining_usd", broker) < 1000
    assert (
        v("unfilled_orders_total", broker) > 10
        and v("order_previews_total", broker, result="failure") > 0
    )
    assert v("websocket_reconnects_total", feed) > 5 * 7  # more than 5 a minute
    assert v("stale_marks_total", feed) > 100 and v("ws_heartbeat_stale", feed) == 1
    dead = next(
        m for m in agg.last_mark[feed] if v("market_data_staleness_seconds", feed, symbol=m) > 30
    )
    assert v("data_quality_score", feed, symbol=dead, interval="1m") < 0.5
    assert v("errors_total", feed, component="market_data", error_type="StaleFeed") > 0.1 * 420
    assert now - v("last_trade_timestamp_seconds", halted) > 3600
    assert now - v("last_cycle_timestamp_seconds", halted) > 300
    assert v("bot_up", halted) == 0 and v("telemetry_account_age_seconds", halted) > 1800


def test_every_default_rule_fires_on_an_incident_bot(
    run: tuple[Aggregator, dict[str, set[tuple[str, str]]], float],
) -> None:
    _, fired, _ = run
    rules = [r.name for r in load_rules(DEFAULT_RULES).rules]
    not_incident = {r: {b for b, _ in fired[r]} - {CALM} for r in rules}
    assert [r for r, bots in not_incident.items() if not bots] == []
    # The calm bot may trip warnings (its fault rates are per pass: at 3 passes a second,
    # a 1 % guard-trip rate is 9 trips in 5 minutes), never a critical alert.
    assert not [r for r in rules if (CALM, "critical") in fired[r]]


def test_the_risk_bots_loss_shows_in_its_account_snapshots() -> None:
    """Its books before the losing round trip are sent too: the day's PnL and the
    report's drawdown see the loss (they read the account snapshots), not only the
    bot's own drawdown from last week's high (an operator trial found $0.00 day PnL)."""
    fleet = Fleet()
    risk = "sim-bot-1"
    equity = [
        ev.equity
        for _ in range(60)
        for ev in fleet.second()
        if ev.bot == risk and isinstance(ev, Account)
    ]
    assert len(equity) >= 2
    assert equity[0] - equity[-1] > 450  # 10 % of 4,500, plus fees
