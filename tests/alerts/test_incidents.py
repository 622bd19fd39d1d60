"""Incidents injected into a simulated fleet and run on a simulated clock through the
default rules, inhibition and receiver settings (the engine and notifier the service
uses, a real webhook): each incident pages exactly once, and nothing else floods."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.http_capture import Capture, capture
from tradewire.consumers.alerts import DEFAULT_RULES, Engine, Notifier, load_rules
from tradewire.consumers.alerts._inhibit import parse_inhibit_rules
from tradewire.consumers.alerts._receivers import parse_receivers
from tradewire.consumers.simulate import BotModel, Incident, active_incidents
from tradewire.schemas import AlertChange

T0 = 1_800_000_000.0
CYCLES_PER_S = 10  # as `tradewire simulate` at its default rate (50 events/s per bot)


@pytest.fixture
def hook() -> Iterator[Capture]:
    yield from capture()


async def run_fleet(
    hook: Capture, bots: int, seconds: int, incidents: tuple[Incident, ...], **receiver: Any
) -> list[dict[str, Any]]:
    """Every notification the webhook got (tradewire's payload)."""
    rule_file = load_rules(DEFAULT_RULES)
    engine = Engine(rule_file.rules)
    notifier = Notifier(
        parse_receivers([{"name": "hook", "type": "webhook", "url": hook.url, **receiver}]),
        inhibit_rules=parse_inhibit_rules(rule_file.inhibit_rules),
    )
    models = [BotModel(f"bot-{i}", seed=1) for i in range(1, bots + 1)]
    seq = Counter[str]()
    for n in range(seconds * CYCLES_PER_S):
        elapsed = n / CYCLES_PER_S
        now = T0 + elapsed
        changes: list[AlertChange] = []
        for m in models:
            m.incidents = active_incidents(incidents, m.bot, elapsed)
            if "silent" in m.incidents:
                continue
            for ev in m.cycle():
                seq[m.bot] += 1
                ev.bot, ev.run, ev.seq, ev.ts = m.bot, "r", seq[m.bot], now
                ev.id = f"{m.bot}-{seq[m.bot]}"
                changes += engine.observe(ev, now)
        if n % CYCLES_PER_S == 0:
            changes += engine.tick(now)  # the service's 1 s clock
        notifier.notify_all(changes, now)
        await asyncio.sleep(0)  # let deliveries run
    await notifier.drain()
    assert notifier.failed["hook"] == 0
    assert len(hook.bodies) == notifier.sent["hook"]
    return hook.bodies


def pages(bodies: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    """(rule, bot, state) -> notifications that carried it."""
    return Counter((a["rule"], a["bot"], a["state"]) for b in bodies for a in b["alerts"])


async def test_each_incident_pages_once_and_nothing_floods(hook: Capture) -> None:
    # The drawdown goes to a bot whose own losses stay under the resolve line (8 %) for
    # the whole run, so its one episode is the incident's; bot-5 and bot-6 lose more than
    # 10 % on their own later on, and that warning is theirs to send.
    incidents = (
        Incident(kind="drawdown", bot="bot-4", start_s=150, end_s=330),
        Incident(kind="breaker_open", bot="bot-3", start_s=150, end_s=330),
        Incident(kind="silent", bot="bot-2", start_s=150),
    )
    bodies = await run_fleet(hook, bots=6, seconds=600, incidents=incidents)
    alerts = [a for b in bodies for a in b["alerts"]]  # in the order they were sent
    got = Counter((a["rule"], a["bot"], a["state"]) for a in alerts)
    # Each incident pages once, after it began (and resolves once when it ends).
    for rule, bot in (("Drawdown", "bot-4"), ("CircuitBreakerOpen", "bot-3"), ("BotDown", "bot-2")):
        fired = [a for a in alerts if (a["rule"], a["bot"], a["state"]) == (rule, bot, "firing")]
        assert [a["severity"] for a in fired] == ["critical"], (rule, bot)
        assert fired[0]["ts"] >= T0 + 150
    assert (
        got["Drawdown", "bot-4", "resolved"] == got["CircuitBreakerOpen", "bot-3", "resolved"] == 1
    )
    assert not any(r == "CircuitBreakerOpen" and b != "bot-3" for r, b, _ in got)
    assert not any(r == "BotDown" and b != "bot-2" for r, b, _ in got)
    # The silent bot pages as BotDown only: no stale marks or snapshots, and its other
    # alerts keep their state rather than resolving for lack of data.
    assert [a["rule"] for a in alerts if a["bot"] == "bot-2" and a["ts"] >= T0 + 150] == ["BotDown"]
    # Nothing else floods. The simulated bots really do lose money and trip guards (at
    # ten cycles a second), and those alerts are sent: once per severity they reach,
    # resolved at most once, never resolved and raised again. One bad data-quality
    # check is routine and pages nothing.
    assert max(got.values()) <= 2, got
    for rule, bot in {(r, b) for r, b, _ in got}:
        states = [a["state"] for a in alerts if (a["rule"], a["bot"]) == (rule, bot)]
        assert "firing" not in states[states.index("resolved") :] if "resolved" in states else True
    assert not any(r == "DataQualityLow" for r, _, _ in got)
    bot_hours = 6 * 600 / 3600
    assert len(bodies) / bot_hours < 60, len(bodies)
