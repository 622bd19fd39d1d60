"""A tick passes by quiet series (``Engine._quiet_until``) and computes what evaluating
every series would: the same changes in the same order, the same alerts."""

from __future__ import annotations

import random

import msgspec
import pytest

from tradewire.consumers.alerts import DEFAULT_RULES, Engine, Rule, load_rules
from tradewire.consumers.alerts._engine import BotState, Instance, SeriesState
from tradewire.consumers.simulate import BotModel, IncidentModel
from tradewire.schemas import AlertChange, Envelope, Heartbeat, Risk

T = 1_800_000_000.0


class EveryTick(Engine):
    """The engine as it was: every series of a live bot evaluated at every tick."""

    def _quiet_until(self, rule: Rule, s: object, inst: Instance) -> float:
        return 0.0


def extra_rules() -> list[Rule]:
    """Kinds and options the shipped rules leave out: an absence with ``<``, a window
    with ``keep_firing_for``, a threshold with ``for``."""
    raw = [
        {"name": "HeartbeatsClose", "kind": "absence", "event": "heartbeat", "op": "<",
         "warning": 5},
        {"name": "MarksBusy", "kind": "count", "event": "mark", "per": ["symbol"],
         "window": "20s", "op": ">=", "warning": 3, "keep_firing_for": "30s"},
        {"name": "LossHeld", "kind": "threshold", "event": "risk", "field": "daily_loss",
         "warning": 50, "for": "15s"},
    ]  # fmt: skip
    rules = [msgspec.convert(r, Rule) for r in raw]
    for r in rules:
        r.validate()
    return rules


def inactive_absence(engine: Engine, inst: Instance) -> bool:
    return inst.state == "inactive" and engine.rules[inst.rule].kind == "absence"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_tick_that_skips_quiet_series_computes_the_same(seed: int) -> None:
    rules = load_rules(DEFAULT_RULES).rules + extra_rules()
    fast, full = Engine(rules), EveryTick(rules)
    rng = random.Random(seed)
    now = T
    models: list[BotModel] = [BotModel(f"calm-{i}", seed) for i in range(3)]
    models += [IncidentModel(f"inc-{r}", seed, role=r) for r in ("risk", "broker", "feed")]
    seq = 0
    changes: list[AlertChange] = []

    def feed(ev: Envelope, bot: str, ts: float, *, evaluate: bool = True) -> None:
        nonlocal seq
        seq += 1
        ev.bot, ev.run, ev.seq, ev.ts, ev.id = bot, "r", seq, ts, f"e{seq}"
        got = fast.observe(ev, now, evaluate=evaluate)
        assert got == full.observe(ev, now, evaluate=evaluate)
        changes.extend(got)

    for m in models[:2]:  # history first: fills windows, raises nothing
        for ev in m.cycle():
            feed(ev, m.bot, now - 3600, evaluate=False)
    for step in range(400):
        now += rng.choice((0.3, 1.0, 1.0, 2.0, 7.0))
        for i, m in enumerate(models):
            silent = i == 0 and 100 <= step < 200  # long enough for BotDown, then back
            if silent or rng.random() < 0.3:
                continue
            for ev in m.cycle():
                # Some clocks ahead of ours, some events late and out of order.
                feed(ev, m.bot, now + rng.choice((0.0, 0.0, -5.0, 2.0)))
        if step % 50 == 10:
            feed(Risk(daily_loss=rng.choice((10.0, 60.0))), "calm-1", now)
            feed(Heartbeat(), "calm-2", now)
        got = fast.tick(now)
        assert got == full.tick(now), f"tick {step}"
        changes.extend(got)
    assert {c.state for c in changes} >= {"pending", "firing", "resolved", "inactive"}
    assert fast.instances.keys() == full.instances.keys()
    for k, inst in fast.instances.items():
        other = full.instances[k]
        if inactive_absence(fast, inst):  # its value waits, unread (see _quiet_until)
            inst.value = other.value
        assert inst == other, k
    assert fast.firing() == full.firing()


def test_quiet_series_wait_and_an_event_wakes_them() -> None:
    rules = load_rules(DEFAULT_RULES).rules
    engine = Engine(rules)
    engine.observe(Risk(bot="b", run="r", seq=1, id="r-1", ts=T, daily_loss=1.0), T)
    engine.tick(T + 1)
    drawdown = engine.series[("Drawdown", ("b",))]
    assert drawdown.quiet_until == float("inf")  # a threshold's value is its latest event's
    engine.observe(Risk(bot="b", run="r", seq=2, id="r-2", ts=T + 2, drawdown_pct=20.0), T + 2)
    assert engine.series[("Drawdown", ("b",))].quiet_until == 0.0  # firing: every tick
    engine.observe(Heartbeat(bot="b", run="r", seq=3, id="r-3", ts=T + 3), T + 3)
    down = engine.series[("BotDown", ("b",))]
    # An absence waits for its lowest threshold (120 s), a hair early.
    assert T + 3 + 119 < down.quiet_until < T + 3 + 120
    assert [c.state for c in engine.tick(T + 3 + 121)] == ["firing"]


def test_restored_state_wakes_a_quiet_series() -> None:
    engine = Engine(load_rules(DEFAULT_RULES).rules)
    engine.observe(Risk(bot="b", run="r", seq=1, id="r-1", ts=T, drawdown_pct=1.0), T)
    assert engine.tick(T + 1) == []
    series: list[SeriesState] = [("Drawdown", ["b"], T + 1, 20.0)]
    engine.import_bot("b", BotState(seen=T + 1, live=True, series=series))
    assert [(c.rule, c.state) for c in engine.tick(T + 2)] == [("Drawdown", "firing")]
