"""Flood controls of the notifier, on a controlled clock with a real webhook:
group_interval, flaps that never page, inhibition, and the per-receiver budget."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.alerts.test_receivers import T0, change
from tests.http_capture import Capture, capture
from tradewire.consumers.alerts import Notifier, RuleError, load_rules, parse_receivers
from tradewire.consumers.alerts._inhibit import InhibitRule, parse_inhibit_rules
from tradewire.consumers.cli import main
from tradewire.schemas import AlertChange


@pytest.fixture
def http() -> Iterator[Capture]:
    yield from capture()


def hook(http: Capture, inhibit: list[InhibitRule] | None = None, **settings: Any) -> Notifier:
    receivers = parse_receivers([{"name": "h", "type": "webhook", "url": http.url, **settings}])
    return Notifier(receivers, inhibit_rules=inhibit)


def sent(http: Capture) -> list[list[tuple[str, str, str]]]:
    """Per notification: (state, rule, bot) of each alert in it."""
    return [[(a["state"], a["rule"], a["bot"]) for a in b["alerts"]] for b in http.bodies]


def resolved(c: AlertChange, ts: float) -> AlertChange:
    return msgspec.structs.replace(c, id=f"{c.id}-r", state="resolved", ts=ts)


async def test_group_interval_batches_later_changes_and_swallows_flaps(http: Capture) -> None:
    n = hook(http, group_by=["alertname"], group_interval="5m")
    n.notify(change(bot="a"), T0)  # a new group: at once (group_wait 0s)
    await n.drain()
    n.notify(change(bot="b"), T0 + 10)  # joins the group notified 10 s ago: waits
    n.notify(change(bot="c"), T0 + 20)
    n.notify(change("resolved", bot="c"), T0 + 30)  # fired and resolved unseen: never sent
    n.flush(T0 + 299)
    await n.drain()
    assert sent(http) == [[("firing", "Drawdown", "a")]]
    n.flush(T0 + 300)  # group_interval after the first notification: one batch
    await n.drain()
    assert sent(http)[1:] == [[("firing", "Drawdown", "b")]]
    # A flap of an alert the receiver knows: resolved and firing again before the
    # resolve went out is nothing new, at the same severity.
    n.notify(change("resolved", bot="a"), T0 + 310)
    n.notify(change(bot="a"), T0 + 320)
    n.flush(T0 + 600)
    await n.drain()
    assert len(http.bodies) == 2
    # Once group_interval has passed since the last notification, a change goes at once
    # and starts the interval again.
    n.notify(change("resolved", bot="a"), T0 + 610)
    await n.drain()
    assert sent(http)[2:] == [[("resolved", "Drawdown", "a")]]
    n.notify(change(bot="a", severity="warning"), T0 + 620)
    n.flush(T0 + 909)
    await n.drain()
    assert len(http.bodies) == 3
    n.flush(T0 + 910)
    await n.drain()
    assert [a["severity"] for a in http.bodies[3]["alerts"]] == ["warning"]
    assert n.export(change(bot="a").fingerprint) == {"h": T0 + 910}


async def test_a_severity_flap_back_to_what_was_sent_is_not_sent_again(http: Capture) -> None:
    """Found by benchmarks/soak.py: an error rate hovering at its critical line went
    warning, critical, warning within one group_interval, and the receiver was paged
    "warning" a second time for an alert it had as warning already."""
    n = hook(http, group_interval="5m")
    n.notify(change(severity="warning"), T0)
    await n.drain()
    n.notify(change(severity="critical", ts=T0 + 20), T0 + 20)  # waits for the interval
    n.notify(change(severity="warning", ts=T0 + 30), T0 + 30)  # back to what was sent
    n.flush(T0 + 300)
    await n.drain()
    assert [[a["severity"] for a in b["alerts"]] for b in http.bodies] == [["warning"]]
    n.notify(change(severity="critical", ts=T0 + 310), T0 + 310)  # an escalation that stays
    await n.drain()
    assert [a["severity"] for a in http.bodies[-1]["alerts"]] == ["critical"]
    n.notify(change(severity="warning", ts=T0 + 320), T0 + 320)  # and a real step down
    n.flush(T0 + 610)
    await n.drain()
    assert [[a["severity"] for a in b["alerts"]] for b in http.bodies[1:]] == [
        ["critical"],
        ["warning"],
    ]


async def test_a_severity_change_waiting_for_its_group_survives_a_restart(
    http: Capture,
) -> None:
    """Found by benchmarks/soak.py: critical was paged, the step down to warning waited for
    group_interval, the alerts service was SIGKILLed meanwhile; the next process took
    the alert as told at warning, and the receiver kept it as critical."""
    n = hook(http, group_interval="5m")
    n.notify(change(severity="critical"), T0)
    await n.drain()
    now = change(severity="warning", ts=T0 + 30)
    n.notify(now, T0 + 30)  # waits for the interval
    fp = now.fingerprint
    sent_at, told = n.export(fp), n.export_told(fp)
    assert told == {"h": "critical"}
    again = hook(http, group_interval="5m")  # the next process
    again.restore([now], {fp: sent_at}, T0 + 60, told={fp: told})
    again.flush(T0 + 299)
    await again.drain()
    assert len(http.bodies) == 1
    again.flush(T0 + 300)
    await again.drain()
    assert [[a["severity"] for a in b["alerts"]] for b in http.bodies] == [
        ["critical"],
        ["warning"],
    ]


async def test_a_busy_group_does_not_hold_up_the_others(http: Capture) -> None:
    n = hook(http)  # group_by alertname, bot; group_interval 5m
    n.notify(change(rule="DataQualityLow", bot="x"), T0)
    n.notify(change("resolved", rule="DataQualityLow", bot="x"), T0 + 1)
    n.notify(change(rule="BotDown", bot="x"), T0 + 2)  # a group of its own: at once
    await n.drain()
    assert sorted(sent(http)) == [[("firing", "BotDown", "x")], [("firing", "DataQualityLow", "x")]]


async def test_critical_inhibits_warning_of_the_same_rule_and_bot(http: Capture) -> None:
    n = hook(http, group_by=["alertname", "bot", "symbol"], group_interval="0s")
    btc = change(rule="DataQualityLow", severity="critical", labels={"symbol": "BTC"})
    eth = change(rule="DataQualityLow", severity="warning", labels={"symbol": "ETH"})
    other_bot = change(rule="DataQualityLow", bot="bot-9", severity="warning")
    other_rule = change(rule="Drawdown", severity="warning")
    n.notify_all([eth, btc, other_bot, other_rule], T0)  # in one batch: eth is inhibited
    await n.drain()
    got = sorted((a["severity"], a["rule"], a["bot"]) for b in http.bodies for a in b["alerts"])
    assert got == [
        ("critical", "DataQualityLow", "bot-1"),
        ("warning", "DataQualityLow", "bot-9"),
        ("warning", "Drawdown", "bot-1"),
    ]
    assert n.inhibited["h"] == 1
    http.requests.clear()
    n.notify(resolved(btc, T0 + 60), T0 + 60)  # the source ends; the warning still fires
    await n.drain()
    after = sorted((a["state"], a["labels"]["symbol"]) for b in http.bodies for a in b["alerts"])
    assert after == [("firing", "ETH"), ("resolved", "BTC")]


async def test_inhibit_rules_are_configurable(http: Capture, tmp_path: Path) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text(
        "rules: []\n"
        "inhibit_rules:\n"
        "  - source: {alertname: BotDown}\n"
        "    target: {severity: [warning, critical]}\n"
        "    equal: [bot]\n"
    )
    rules = parse_inhibit_rules(load_rules(f).inhibit_rules)
    n = hook(http, inhibit=rules)
    n.notify_all([change(rule="BotDown"), change(rule="Drawdown"), change(bot="b2")], T0)
    await n.drain()
    assert sorted(r for b in sent(http) for _, r, _ in b) == ["BotDown", "Drawdown"]
    assert {bot for b in sent(http) for _, _, bot in b} == {"bot-1", "b2"}
    assert parse_inhibit_rules([]) == []  # none at all
    f.write_text("rules: []\ninhibit_rules:\n  - source: {severity: critical}\n")
    with pytest.raises(ValueError, match=r"inhibit_rules\[0\]"):
        parse_inhibit_rules(load_rules(f).inhibit_rules)
    assert main(["alerts", "check", str(f)]) == 2  # `alerts check` says so too
    f.write_text("rules: []\ninhibit_rules: {source: x}\n")
    with pytest.raises(RuleError, match="inhibit_rules must be a list"):
        load_rules(f)


async def test_budget_sends_one_summary_then_the_most_severe_first(http: Capture) -> None:
    n = hook(http, budget=2, budget_window="1h")
    for i in range(2):
        n.notify(change(bot=f"w{i}", severity="warning"), T0 + i)  # within the budget
    await n.drain()  # (deliveries run concurrently: keep the arrival order testable)
    for i in range(5):  # past it: held, one summary
        n.notify(change(bot=f"x{i}", severity="warning"), T0 + 10 + i)
    n.flush(T0 + 1800)
    await n.drain()
    assert len(http.bodies) == 3 and n.summaries["h"] == 1 and n.over_budget["h"] == 5
    first = http.bodies[2]["alerts"][0]  # sent when the first group had to wait
    assert (first["rule"], first["severity"], first["value"]) == (
        "NotificationBudget",
        "warning",
        1.0,
    )
    assert "2 notifications per 1h used: 1 group(s) with 1 change(s)" in first["summary"]
    n.notify(change(bot="crit", severity="critical"), T0 + 1801)  # worse: one more summary
    await n.drain()
    assert len(http.bodies) == 4 and n.summaries["h"] == 2
    summary = http.bodies[3]["alerts"][0]
    assert (summary["severity"], summary["value"]) == ("critical", 6.0)
    assert "Drawdown x6" in summary["summary"]
    n.flush(T0 + 3600)  # the first send leaves the window: one slot, the critical first
    await n.drain()
    assert sent(http)[4:] == [[("firing", "Drawdown", "crit")]]
    n.flush(T0 + 3601)
    await n.drain()
    assert sent(http)[5:] == [[("firing", "Drawdown", "x0")]]
    n.notify(change(bot="late", severity="warning"), T0 + 3602)  # over budget again ...
    await n.drain()
    assert len(http.bodies) == 6 and n.summaries["h"] == 2  # ... but no new summary yet


async def test_alertmanager_receiver_forwards_at_once_without_budget() -> None:
    am = parse_receivers([{"name": "am", "type": "alertmanager", "url": "http://x"}])[0]
    assert (am.group_interval_s, am.budget_limit) == (0.0, 0)
    hook_ = parse_receivers([{"name": "h", "type": "webhook", "url": "http://x"}])[0]
    assert (hook_.group_interval_s, hook_.budget_limit) == (300.0, 0)
    with pytest.raises(ValueError, match="budget"):
        parse_receivers([{"name": "h", "type": "webhook", "url": "http://x", "budget": -1}])
