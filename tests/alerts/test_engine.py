"""Each rule kind with a controllable clock: for, keep_firing_for, hysteresis, absence, restart."""

from __future__ import annotations

from pathlib import Path

import msgspec

from tradewire.consumers.alerts import AlertRecord, Engine, Rule
from tradewire.consumers.alerts._engine import BotState
from tradewire.schemas import AlertChange, BrokerCall, Cycle, Envelope, Heartbeat, Mark, Order, Risk

T = 1_800_000_000.0


def rule(**kw: object) -> Rule:
    r = msgspec.convert({"name": "R", **kw}, Rule)
    r.validate()
    return r


class Clock:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.now = T
        self.seq = 0

    def feed(self, ev: Envelope, bot: str = "b1") -> list[AlertChange]:
        self.seq += 1
        ev.bot, ev.run, ev.seq, ev.ts, ev.id = bot, "r", self.seq, self.now, f"e{self.seq}"
        return self.engine.observe(ev, self.now)

    def at(self, dt: float) -> list[AlertChange]:
        self.now = T + dt
        return self.engine.tick(self.now)


def states(changes: list[AlertChange]) -> list[tuple[str, str]]:
    return [(c.state, c.severity) for c in changes]


def test_threshold_levels_escalate_and_resolve() -> None:
    c = Clock(
        Engine(
            [
                rule(
                    kind="threshold",
                    event="risk",
                    field="daily_loss / daily_loss_limit",
                    op=">=",
                    warning=0.8,
                    critical=1.0,
                )
            ]
        )
    )
    assert c.feed(Risk(daily_loss=50, daily_loss_limit=100)) == []
    assert states(c.feed(Risk(daily_loss=85, daily_loss_limit=100))) == [("firing", "warning")]
    assert states(c.feed(Risk(daily_loss=100, daily_loss_limit=100))) == [("firing", "critical")]
    assert c.feed(Risk(daily_loss=120, daily_loss_limit=100)) == []  # no repeat
    assert states(c.feed(Risk(daily_loss=10, daily_loss_limit=100))) == [("resolved", "critical")]


def test_for_delays_and_a_short_blip_never_fires() -> None:
    c = Clock(
        Engine(
            [
                rule(
                    kind="threshold",
                    event="risk",
                    where={"circuit_breaker": "open"},
                    op=">=",
                    critical=1,
                    **{"for": "1m"},
                )
            ]
        )
    )
    assert states(c.feed(Risk(circuit_breaker="open"))) == [("pending", "critical")]
    assert c.at(30) == []
    c.now = T + 40
    assert states(c.feed(Risk(circuit_breaker="closed"))) == [("inactive", "critical")]
    c.now = T + 100
    assert states(c.feed(Risk(circuit_breaker="open"))) == [("pending", "critical")]
    assert c.at(159) == []
    assert c.at(160) == []  # a minute passed, but nothing says it is still open ...
    c.feed(Heartbeat())  # ... until the bot is heard from (still open)
    assert states(c.at(160)) == [("firing", "critical")]


def test_keep_firing_for_rides_out_a_dip() -> None:
    c = Clock(
        Engine(
            [
                rule(
                    kind="threshold",
                    event="risk",
                    field="drawdown_pct",
                    warning=10,
                    keep_firing_for="2m",
                )
            ]
        )
    )
    assert states(c.feed(Risk(drawdown_pct=12))) == [("firing", "warning")]
    c.now = T + 10
    assert c.feed(Risk(drawdown_pct=5)) == []  # cleared, but kept firing
    c.now = T + 60
    assert c.feed(Risk(drawdown_pct=11)) == []  # back: the clearing clock restarts
    c.now = T + 70
    assert c.feed(Risk(drawdown_pct=5)) == []
    assert c.at(189) == []
    assert states(c.at(190)) == [("resolved", "warning")]


def test_hysteresis_resolve_threshold() -> None:
    c = Clock(
        Engine([rule(kind="threshold", event="risk", field="drawdown_pct", warning=10, resolve=8)])
    )
    assert states(c.feed(Risk(drawdown_pct=10.5))) == [("firing", "warning")]
    assert c.feed(Risk(drawdown_pct=9.5)) == []  # below 10 but not below 8: still firing
    assert c.feed(Risk(drawdown_pct=8.5)) == []
    assert states(c.feed(Risk(drawdown_pct=7.9))) == [("resolved", "warning")]
    assert c.feed(Risk(drawdown_pct=9.9)) == []  # not firing, so 9.9 < 10 stays quiet


def test_count_over_a_sliding_window() -> None:
    c = Clock(
        Engine(
            [
                rule(
                    kind="count",
                    event="cycle",
                    where={"ok": False},
                    window="5m",
                    op=">=",
                    warning=3,
                )
            ]
        )
    )
    for i in range(2):
        c.now = T + i
        assert c.feed(Cycle(duration_s=1, ok=False)) == []
    c.feed(Cycle(duration_s=1, ok=True))  # not counted
    c.now = T + 100
    assert states(c.feed(Cycle(duration_s=1, ok=False))) == [("firing", "warning")]
    assert c.at(301) == []  # the bot fell silent: no data is not "all clear"
    c.feed(Heartbeat())  # it runs again, at 301: its clock moves on ...
    assert states(c.at(301)) == [("resolved", "warning")]  # ... the first two left the window


def test_ratio_with_minimum_events() -> None:
    r = rule(
        kind="ratio",
        event="order",
        where={"status": ["filled", "rejected", "failed"]},
        match={"status": ["rejected", "failed"]},
        window="5m",
        min_events=4,
        warning=0.05,
        critical=0.5,
    )
    c = Clock(Engine([r]))
    assert c.feed(Order(symbol="X", side="buy", status="rejected", qty=1)) == []  # 1 < 4
    c.feed(Order(symbol="X", side="buy", status="submitted", qty=1))  # not an outcome
    c.feed(Order(symbol="X", side="buy", status="filled", qty=1))
    c.feed(Order(symbol="X", side="buy", status="filled", qty=1))
    changes = c.feed(Order(symbol="X", side="buy", status="filled", qty=1))
    assert states(changes) == [("firing", "warning")] and changes[0].value == 0.25


def test_quantile_over_window() -> None:
    c = Clock(
        Engine(
            [
                rule(
                    kind="quantile",
                    event="broker_call",
                    where={"operation": "submit"},
                    field="latency_s",
                    q=0.95,
                    window="5m",
                    min_events=3,
                    warning=1.0,
                    critical=3.0,
                )
            ]
        )
    )
    for lat in (0.1, 0.2):
        assert c.feed(BrokerCall(operation="submit", latency_s=lat)) == []
    c.feed(BrokerCall(operation="cancel", latency_s=50.0))  # other operation: ignored
    changes = c.feed(BrokerCall(operation="submit", latency_s=4.0))
    # p95 of [0.1, 0.2, 4.0]: 0.2 + 0.9 * 3.8 = 3.62
    assert states(changes) == [("firing", "critical")]
    assert abs((changes[0].value or 0) - 3.62) < 1e-9


def test_absence_on_a_clock_per_symbol() -> None:
    c = Clock(Engine([rule(kind="absence", event="mark", per=["symbol"], warning=10, critical=30)]))
    c.feed(Mark(symbol="BTC-USD", price=1))
    c.feed(Mark(symbol="ETH-USD", price=1))
    assert c.at(10) == []  # 10 is not > 10
    changes = c.at(11)
    assert sorted((ch.labels["symbol"], ch.severity) for ch in changes) == [
        ("BTC-USD", "warning"),
        ("ETH-USD", "warning"),
    ]
    c.now = T + 20
    assert states(c.feed(Mark(symbol="BTC-USD", price=1))) == [("resolved", "warning")]
    # At 31 s BTC is 11 s stale again (warning), ETH 31 s (critical).
    assert sorted((ch.labels["symbol"], ch.severity) for ch in c.at(31)) == [
        ("BTC-USD", "warning"),
        ("ETH-USD", "critical"),
    ]


def test_redelivered_event_changes_nothing_and_bots_are_separate() -> None:
    e = Engine(
        [rule(kind="count", event="cycle", where={"ok": False}, window="5m", op=">=", warning=2)]
    )
    ev = Cycle(duration_s=1, ok=False, id="x1", bot="b1", run="r", seq=1, ts=T)
    assert e.observe(ev, T) == [] and e.observe(ev, T) == []
    other = Cycle(duration_s=1, ok=False, id="x2", bot="b2", run="r", seq=1, ts=T)
    assert e.observe(other, T) == []  # b2's first, not b1's second


def down_and_pending(down_after: float) -> list[Rule]:
    """R: the bot is down (absence); P: drawdown over 10 for 5 minutes."""
    return [
        rule(kind="absence", event="heartbeat", critical=down_after),
        rule(
            name="P",
            kind="threshold",
            event="risk",
            field="drawdown_pct",
            warning=10,
            **{"for": "5m"},
        ),
    ]


def test_restart_keeps_firing_and_pending_state(tmp_path: Path) -> None:
    rules = down_and_pending(120)
    c = Clock(Engine(rules))
    c.feed(Heartbeat())
    c.feed(Risk(drawdown_pct=12))
    assert [ch.rule for ch in c.at(121)] == ["R"]  # bot down fires; P is pending
    after = Engine(rules)
    for inst in list(c.engine.instances.values()):  # saved and read back as the service does
        found = c.engine.instance(inst.fingerprint)
        if found is not None:
            key, kept, firing = found
            raw = msgspec.json.encode(AlertRecord(key=key, instance=kept, firing=firing))
            record = msgspec.json.decode(raw, type=AlertRecord)
            after.import_instance(record.key, record.instance)
    for bot in c.engine.bots:
        raw = msgspec.json.encode(c.engine.bot_state(bot))
        after.import_bot(bot, msgspec.json.decode(raw, type=BotState))
    assert after.tick(T + 130) == []  # still firing: no second page, nothing forgotten
    assert after.tick(T + 301) == []  # P's for elapsed, but the bot is silent: no data
    risk = Risk(id="r2", bot="b1", run="r", seq=8, ts=T + 301, drawdown_pct=12)
    assert states(after.observe(risk, T + 301)) == [("firing", "warning")]  # heard: it holds
    ev = Heartbeat(id="h2", bot="b1", run="r", seq=9, ts=T + 310)
    assert states(after.observe(ev, T + 310)) == [("resolved", "critical")]


def test_a_heartbeat_from_a_clock_ahead_cannot_hold_off_bot_down() -> None:
    """Absence counts from when the engine saw the heartbeat, never from a future ts."""
    c = Clock(Engine([rule(kind="absence", event="heartbeat", critical=120)]))
    ev = Heartbeat(id="h1", bot="b1", run="r", seq=1, ts=T + 250)  # 250 s ahead
    assert c.engine.observe(ev, T) == []
    assert states(c.at(121)) == [("firing", "critical")]


def test_history_fills_series_but_raises_nothing_until_the_bot_is_live() -> None:
    e = Engine(
        [
            rule(kind="absence", event="heartbeat", critical=120),
            rule(name="D", kind="threshold", event="risk", field="drawdown_pct", warning=10),
        ],
        live_window_s=300,
    )
    now = T + 86_400  # the events are a day old: an import of an old log
    old = [Heartbeat(), Risk(drawdown_pct=30)]
    for i, ev in enumerate(old):
        ev.bot, ev.run, ev.seq, ev.ts, ev.id = "imported", "r", i + 1, T + i, f"o{i}"
        assert e.observe(ev, now) == []
    assert e.tick(now) == [] and e.tick(now + 3600) == []  # no BotDown, ever
    assert not e.bots["imported"].live and e.instances == {}
    # A fresh event makes it live: from then on it is evaluated as any bot.
    risk = Risk(id="n1", bot="imported", run="r2", seq=1, ts=now, drawdown_pct=12)
    assert states(e.observe(risk, now)) == [("firing", "warning")]
    assert states(e.tick(now + 121)) == [("firing", "critical")]  # silent 2 min since: down


def test_a_replayed_older_event_does_not_overwrite_a_newer_value() -> None:
    c = Clock(Engine([rule(kind="threshold", event="risk", field="drawdown_pct", warning=10)]))
    c.now = T + 10
    assert states(c.feed(Risk(drawdown_pct=12))) == [("firing", "warning")]
    late = Risk(id="late", bot="b1", run="r", seq=1, ts=T, drawdown_pct=1)  # an outbox replay
    assert c.engine.observe(late, T + 11) == []


def test_absence_while_bot_active_leaves_a_silent_bot_to_bot_down() -> None:
    stale = rule(kind="absence", event="mark", per=["symbol"], warning=10, while_bot_active=True)
    down = rule(name="Down", kind="absence", event="heartbeat", critical=60)
    c = Clock(Engine([stale, down]))
    c.feed(Mark(symbol="BTC-USD", price=1))
    c.feed(Heartbeat())
    assert [(ch.rule, ch.severity) for ch in c.at(61)] == [("Down", "critical")]  # not stale
    c.now = T + 70
    assert states(c.feed(Heartbeat())) == [("resolved", "critical")]  # back ...
    changes = c.at(71)  # ... sending heartbeats but no marks: now the marks are stale
    assert [(ch.rule, ch.state, ch.value) for ch in changes] == [("R", "firing", 70.0)]


def test_retire_resolves_forgets_and_stays_quiet() -> None:
    c = Clock(Engine(down_and_pending(60)))
    c.feed(Heartbeat())
    c.feed(Risk(drawdown_pct=20))  # pending
    c.feed(Heartbeat(), bot="b2")
    assert [ch.bot for ch in c.at(61)] == ["b1", "b2"]  # both down
    retired = c.engine.retire("b1", T + 62)
    assert sorted((ch.rule, ch.state) for ch in retired) == [("P", "inactive"), ("R", "resolved")]
    assert all(ch.bot == "b1" for ch in retired)
    assert c.at(3600) == []  # not raised again, and b2 stays firing without a repeat
    assert "b1" not in c.engine.bots and c.engine.bot_state("b1") is None
    assert {k[1][0] for k in c.engine.series} == {"b2"}
