"""Receivers: payloads against each service's documented format, routing, grouping,
repeats, silences, retries, pacing and secrets, delivered to local servers."""

from __future__ import annotations

import itertools
import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.http_capture import Capture, capture
from tests.waiting import wait_until
from tradewire.consumers.alerts import Notification, Notifier, Silence, parse_receivers
from tradewire.consumers.alerts._payloads import (
    TELEGRAM_LIMIT,
    alertmanager_alerts,
    alertmanager_webhook,
    pagerduty_events,
    slack_payload,
    telegram_texts,
)
from tradewire.schemas import AlertChange

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
T0 = 1_763_640_000.0


def change(
    state: str = "firing",
    *,
    rule: str = "Drawdown",
    bot: str = "bot-1",
    severity: str = "critical",
    labels: dict[str, str] | None = None,
    summary: str = "Drawdown from peak equity",
    ts: float = T0,
) -> AlertChange:
    fp = f"{rule}-{bot}-{sorted((labels or {}).items())}"
    return AlertChange(
        id=f"{fp}-{ts}-{state}",
        fingerprint=re.sub(r"[^A-Za-z0-9]", "", fp)[:40],
        rule=rule,
        bot=bot,
        state=state,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        ts=ts,
        active_since=T0 - 60,
        value=16.5,
        threshold=15.0,
        labels=labels or {},
        summary=summary,
        runbook="docs/runbooks.md#drawdown",
    )


@pytest.fixture
def http() -> Iterator[Capture]:
    yield from capture()


def notifier(items: list[dict[str, Any]], **kw: Any) -> Notifier:
    return Notifier(parse_receivers(items), **kw)


# -- payloads against the documented formats ---------------------------------------------


def test_alertmanager_webhook_v4_groups_alerts_with_common_labels() -> None:
    a = change(labels={"symbol": "BTC-USD"})
    b = change(labels={"symbol": "ETH-USD"}, state="resolved")
    body = alertmanager_webhook(Notification("hook", {"alertname": "Drawdown"}, [a, b]))
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["groupKey"] == '{}:{alertname="Drawdown"}'
    assert body["commonLabels"] == {"alertname": "Drawdown", "bot": "bot-1", "severity": "critical"}
    assert [x["status"] for x in body["alerts"]] == ["firing", "resolved"]
    assert [x["labels"]["symbol"] for x in body["alerts"]] == ["BTC-USD", "ETH-USD"]
    for x in body["alerts"]:
        assert RFC3339.match(x["startsAt"]) and RFC3339.match(x["endsAt"])
        assert set(x) == {
            "status",
            "labels",
            "annotations",
            "startsAt",
            "endsAt",
            "generatorURL",
            "fingerprint",
        }
    assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"


def test_slack_incoming_webhook_shape_and_section_limit() -> None:
    many = [change(labels={"symbol": f"S{i}"}, summary="x" * 200) for i in range(40)]
    body = slack_payload(Notification("slack", {"alertname": "Drawdown", "bot": "bot-1"}, many))
    assert body["text"] == "[FIRING:40] alertname=Drawdown bot=bot-1"
    assert [b["type"] for b in body["blocks"]] == ["section", "section"]
    for block in body["blocks"]:
        assert block["text"]["type"] == "mrkdwn"
        assert len(block["text"]["text"]) <= 3000  # Slack's limit for a section's text


def test_telegram_splits_at_line_ends_under_4096() -> None:
    many = [change(labels={"symbol": f"SYM{i}"}, summary="y" * 150) for i in range(120)]
    texts = telegram_texts(Notification("tg", {"alertname": "Drawdown"}, many))
    assert len(texts) > 1
    assert all(len(t) <= TELEGRAM_LIMIT for t in texts)
    joined = "\n".join(texts)
    assert [f"symbol=SYM{i}" in joined for i in range(120)] == [True] * 120
    order = [int(m) for m in re.findall(r"symbol=SYM(\d+)", joined)]
    assert order == list(range(120))  # nothing lost or reordered by the split


def test_pagerduty_events_v2_trigger_and_resolve_share_the_dedup_key() -> None:
    fire = change(summary="z" * 2000)
    trigger, resolve = (
        pagerduty_events(Notification("pd", {}, [c]), "R0UT1NGKEY", "tradewire")[0]
        for c in (fire, change("resolved"))
    )
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"]
    assert trigger["routing_key"] == "R0UT1NGKEY"
    payload = trigger["payload"]
    assert len(payload["summary"]) <= 1024  # Events v2 limit
    assert payload["severity"] in {"critical", "error", "warning", "info"}
    assert payload["source"] == "tradewire/bot-1" and RFC3339.match(payload["timestamp"])
    assert trigger["links"] == [{"href": "docs/runbooks.md#drawdown", "text": "runbook"}]
    assert "payload" not in resolve  # a resolve needs only the key


def test_alertmanager_api_postable_alerts() -> None:
    now = T0 + 10
    firing, resolved = alertmanager_alerts(
        Notification("am", {}, [change(), change("resolved", ts=T0 + 5)]), now, 60.0
    )
    assert firing["labels"] == {"alertname": "Drawdown", "bot": "bot-1", "severity": "critical"}
    assert firing["endsAt"] > resolved["endsAt"]  # firing: 3 resends ahead; resolved: then
    assert resolved["endsAt"].startswith("2025-11-20T")


# -- configuration -------------------------------------------------------------------------


def test_receiver_errors_name_the_receiver_not_the_secret(monkeypatch: Any) -> None:
    with pytest.raises(ValueError, match=r"receivers\[0\] slack: .*SLACK_URL is not set"):
        parse_receivers([{"name": "slack", "type": "slack", "url": "env:SLACK_URL"}])
    with pytest.raises(ValueError, match=r"receivers\[0\] pd: .*unknown field `token`"):
        parse_receivers([{"name": "pd", "type": "pagerduty", "routing_key": "k", "token": "x"}])
    with pytest.raises(ValueError, match=r"receivers\[1\] a: duplicate"):
        parse_receivers([{"name": "a", "type": "log"}, {"name": "a", "type": "log"}])
    with pytest.raises(ValueError, match=r"smarthost"):
        parse_receivers(
            [{"name": "m", "type": "email", "to": ["a@b"], "from": "c@d", "smarthost": "x"}]
        )
    with pytest.raises(ValueError, match=r"receivers\[0\] x: .*sms"):
        parse_receivers([{"name": "x", "type": "sms"}])


async def test_secrets_from_env_and_file_are_never_logged(
    http: Capture, tmp_path: Path, monkeypatch: Any, caplog: Any
) -> None:
    token_file = tmp_path / "tg"
    token_file.write_text("123:SECRET-TOKEN\n")
    monkeypatch.setenv("HOOK_URL", http.url + "/hook?token=SECRET-QUERY")
    n = notifier(
        [
            {"name": "hook", "type": "webhook", "url": "env:HOOK_URL"},
            {
                "name": "tg",
                "type": "telegram",
                "token": f"file:{token_file}",
                "chat_id": "42",
                "api_url": http.url,
                "max_attempts": 1,
            },
        ]
    )
    http.answers = [(200, b"{}"), (400, b'{"ok": false}')]
    with caplog.at_level(logging.DEBUG):
        n.notify(change(), T0)
        await n.drain()
    paths = sorted(r.path for r in http.requests)
    assert paths in (["/hook?token=SECRET-QUERY"], ["/bot123:SECRET-TOKEN/sendMessage"])
    assert n.sent["hook"] + n.sent["tg"] == 1 and n.failed["hook"] + n.failed["tg"] == 1
    assert "SECRET" not in caplog.text and "gave up" in caplog.text


# -- routing, grouping, repeats, silences ----------------------------------------------------


async def test_routing_by_severity_bot_rule_and_labels(http: Capture) -> None:
    n = notifier(
        [
            {
                "name": "crit-btc",
                "type": "webhook",
                "url": http.url + "/crit",
                "severities": ["critical"],
                "labels": {"symbol": ["BTC-USD", "XBT-USD"]},
            },
            {"name": "bot2", "type": "webhook", "url": http.url + "/bot2", "bots": ["bot-2"]},
            {"name": "dd", "type": "webhook", "url": http.url + "/dd", "rules": ["Drawdown"]},
        ]
    )
    n.notify(change(labels={"symbol": "BTC-USD"}), T0)
    n.notify(change(labels={"symbol": "ETH-USD"}, bot="bot-2", severity="warning"), T0)
    n.notify(change(rule="BotDown", bot="bot-3", severity="warning"), T0)
    await n.drain()
    got = sorted((r.path, a["bot"]) for r in http.requests for a in r.body["alerts"])
    assert got == [("/bot2", "bot-2"), ("/crit", "bot-1"), ("/dd", "bot-1"), ("/dd", "bot-2")]


async def test_group_wait_batches_and_repeat_interval_resends(http: Capture) -> None:
    n = notifier(
        [
            {
                "name": "g",
                "type": "webhook",
                "url": http.url,
                "group_by": ["alertname"],
                "group_wait": "30s",
                "repeat_interval": "1h",
            }
        ]
    )
    for i, bot in enumerate(["bot-1", "bot-2", "bot-3"]):
        n.notify(change(bot=bot), T0 + i)
    n.flush(T0 + 29)
    await n.drain()
    assert http.requests == []  # still waiting for the group
    n.flush(T0 + 30)
    await n.drain()
    assert len(http.requests) == 1
    assert sorted(a["bot"] for a in http.bodies[0]["alerts"]) == ["bot-1", "bot-2", "bot-3"]
    assert http.bodies[0]["group_labels"] == {"alertname": "Drawdown"}
    n.flush(T0 + 30 + 3599)
    await n.drain()
    assert len(http.requests) == 1
    n.flush(T0 + 30 + 3600)  # repeat due: queued, then sent after the group wait
    n.flush(T0 + 30 + 3630)
    await n.drain()
    assert len(http.requests) == 2 and len(http.bodies[1]["alerts"]) == 3
    n.notify(change("resolved", bot="bot-2"), T0 + 4000)
    n.flush(T0 + 4030)
    await n.drain()
    assert [a["state"] for a in http.bodies[2]["alerts"]] == ["resolved"]


async def test_silences_hold_back_then_release_and_swallow_unsent_resolves(
    http: Capture,
) -> None:
    silence = Silence(bot="bot-1", starts_at=T0, ends_at=T0 + 600, comment="maintenance")
    silence.validate()

    def silenced(c: AlertChange, now: float) -> bool:
        return silence.active(now) and silence.matches(c)

    n = notifier([{"name": "h", "type": "webhook", "url": http.url}], silenced=silenced)
    n.notify(change(bot="bot-1"), T0 + 1)  # silenced
    n.notify(change(bot="bot-2"), T0 + 1)  # not
    n.notify(change(bot="bot-1", rule="BotDown"), T0 + 2)  # silenced, then resolves
    n.notify(change("resolved", bot="bot-1", rule="BotDown"), T0 + 3)
    await n.drain()
    assert [a["bot"] for b in http.bodies for a in b["alerts"]] == ["bot-2"]
    assert n.held["h"] == 2
    n.flush(T0 + 599)
    await n.drain()
    assert len(http.requests) == 1
    n.flush(T0 + 600)  # the silence ended and Drawdown on bot-1 still fires
    await n.drain()
    assert len(http.requests) == 2
    assert [(a["rule"], a["bot"]) for a in http.bodies[1]["alerts"]] == [("Drawdown", "bot-1")]


async def test_restore_after_restart_keeps_sent_and_held_apart(http: Capture) -> None:
    n = notifier(
        [
            {"name": "h", "type": "webhook", "url": http.url + "/h"},
            {"name": "new", "type": "webhook", "url": http.url + "/new"},
        ]
    )
    sent, held = change(bot="sent"), change(bot="held")
    saved: dict[str, dict[str, float | None]] = {
        sent.fingerprint: {"h": T0 - 10},
        held.fingerprint: {"h": None},
    }
    n.restore([sent, held], saved, T0)
    assert n.export(sent.fingerprint) == {"h": T0 - 10, "new": T0}
    assert n.export(held.fingerprint) == {"h": None, "new": T0}
    n.flush(T0 + 1)  # held by a silence before the restart, no silence now: paged
    n.notify(change("resolved", bot="sent"), T0 + 2)
    await n.drain()
    assert len(http.requests) == 1  # the resolves wait for group_interval (5m) ...
    n.flush(T0 + 300)  # ... since the group was last sent (T0 - 10; "new": at restore)
    await n.drain()
    got = sorted((r.path, r.body["status"], r.body["alerts"][0]["bot"]) for r in http.requests)
    # "new" had no saved state: both count as sent, so it only gets the resolve.
    assert got == [
        ("/h", "firing", "held"),
        ("/h", "resolved", "sent"),
        ("/new", "resolved", "sent"),
    ]


# -- delivery: retries, pacing, each service over its transport ------------------------------


async def test_retries_5xx_and_gives_up_at_once_on_4xx(http: Capture) -> None:
    n = notifier([{"name": "h", "type": "webhook", "url": http.url, "max_attempts": 3}])
    http.answers = [(503, b""), (200, b"{}")]
    n.notify(change(bot="a"), T0)
    await n.drain()
    assert n.sent["h"] == 1 and len(http.requests) == 1
    http.answers = [(400, b"bad"), (200, b"{}")]
    n.notify(change(bot="b"), T0)
    await n.drain()
    assert n.failed["h"] == 1 and len(http.requests) == 1  # 400 is not retried


async def test_telegram_paces_each_chat_and_honours_retry_after(http: Capture) -> None:
    n = notifier(
        [
            {
                "name": "tg",
                "type": "telegram",
                "token": "1:T",
                "chat_id": "-100",
                "api_url": http.url,
                "min_interval_s": 0.3,
                "group_by": ["bot"],
            }
        ]
    )
    http.answers = [(429, b'{"ok": false, "parameters": {"retry_after": 1}}')]
    started = time.monotonic()
    for bot in ("b1", "b2", "b3"):
        n.notify(change(bot=bot), T0)
    await n.drain()
    times = sorted(r.at for r in http.requests)
    assert len(times) == 3
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(g >= 0.25 for g in gaps), gaps
    assert times[-1] - started >= 1.0  # one of them waited out retry_after
    body = http.bodies[0]
    assert body["chat_id"] == "-100" and body["text"].startswith("[FIRING:1] bot=")
    assert {r.path for r in http.requests} == {"/bot1:T/sendMessage"}


async def test_pagerduty_and_slack_over_http(http: Capture) -> None:
    n = notifier(
        [
            {"name": "pd", "type": "pagerduty", "routing_key": "RK", "url": http.url + "/pd"},
            {"name": "slack", "type": "slack", "url": http.url + "/slack"},
        ]
    )
    n.notify(change(), T0)
    await n.drain()
    n.notify(change("resolved"), T0 + 9)
    n.flush(T0 + 300)  # group_interval (5m) after the firing went out
    await n.drain()
    pd = [r.body for r in http.requests if r.path == "/pd"]
    assert [e["event_action"] for e in pd] == ["trigger", "resolve"]
    assert pd[0]["dedup_key"] == pd[1]["dedup_key"]
    slack = [r.body for r in http.requests if r.path == "/slack"]
    assert [s["text"].split("]")[0] for s in slack] == ["[FIRING:1", "[RESOLVED:1"]


async def test_email_over_smtp(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    got: list[Any] = []

    class Keep(Message):
        def handle_message(self, message: Any) -> None:
            got.append(message)

    with socket.socket() as probe:  # a free port: aiosmtpd's readiness check needs one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        n = notifier(
            [
                {
                    "name": "mail",
                    "type": "email",
                    "to": ["ops@example.org", "oncall@example.org"],
                    "from": "tradewire@example.org",
                    "smarthost": f"127.0.0.1:{port}",
                    "tls": "none",
                }
            ]
        )
        n.notify(change(labels={"symbol": "BTC-USD"}), T0)
        await n.drain()
        await wait_until(lambda: len(got) == 1)
    finally:
        controller.stop()
    msg = got[0]
    assert msg["Subject"] == "[FIRING:1] alertname=Drawdown bot=bot-1"
    assert msg["To"] == "ops@example.org, oncall@example.org"
    body = msg.get_payload()
    assert "Drawdown bot=bot-1 symbol=BTC-USD value=16.5 (threshold 15)" in body
    assert "runbook: docs/runbooks.md#drawdown" in body
