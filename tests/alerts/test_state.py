"""The alerts service's state in NATS KV: one key per alert and per bot, thousands of
firing alerts across a restart, save failures in /health, and the old layout migrated."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import KeyValueConfig
from nats.js.errors import KeyNotFoundError

from tests.alerts.test_service import settled
from tests.http_capture import Capture, capture
from tests.waiting import wait_until
from tradewire.consumers.alerts import (
    ALERT_PREFIX,
    AlertRecord,
    AlertsConfig,
    AlertsService,
    open_bucket,
    read_firing,
)
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.runtime import read_prefix
from tradewire.schemas import Risk, Subjects, encode

pytestmark = pytest.mark.nats
BUCKET = "tradewire_alerts"
LEGACY = Path(__file__).with_name("data") / "legacy_state.json"


@pytest.fixture
def receiver() -> Iterator[Capture]:
    yield from capture()


def rules(tmp_path: Path, url: str, **hook: Any) -> Path:
    extra = "".join(f"    {k}: {v}\n" for k, v in hook.items())
    f = tmp_path / "rules.yaml"
    f.write_text(
        "rules:\n"
        "  - {name: Drawdown, kind: threshold, event: risk, field: drawdown_pct, warning: 10}\n"
        "receivers:\n"
        f"  - name: hook\n    type: webhook\n    url: {url}\n" + extra
    )
    return f


async def start(url: str, rules_file: Path) -> tuple[AlertsService, asyncio.Task[int]]:
    svc = AlertsService(AlertsConfig(nats_url=url, http_port=0, rules=str(rules_file), tick_s=0.1))
    return svc, await svc.start(20)


def firing(svc: AlertsService) -> int:
    return sum(i.state == "firing" for i in svc.engine.instances.values())


async def publish_risk(url: str, bots: list[str], drawdown: float) -> None:
    """One risk event per bot, straight onto the stream (a fleet too big for a publisher
    per bot)."""
    subjects = Subjects()
    nc = await nats.connect(url)
    now = time.time()
    for bot in bots:
        ev = Risk(id=f"{bot}-{drawdown}", bot=bot, run="r", seq=1, ts=now, drawdown_pct=drawdown)
        await nc.publish(subjects.event(bot, "risk"), encode(ev), headers={"Nats-Msg-Id": ev.id})
    await nc.flush()
    await nc.close()


async def test_thousands_of_firing_alerts_are_saved_and_reloaded(
    nats_server: EmbeddedNats, receiver: Capture, tmp_path: Path
) -> None:
    url = nats_server.url
    f = rules(tmp_path, receiver.url, group_by="[alertname]", group_interval="1s")
    svc, task = await start(url, f)
    bots = [f"bot-{i:04d}" for i in range(3000)]
    await publish_risk(url, bots, 20.0)
    await wait_until(lambda: firing(svc) == 3000, what="3000 alerts firing")
    # One group: the first batch at once, the rest group_interval later.
    await wait_until(lambda: sum(len(b["alerts"]) for b in receiver.bodies) == 3000)
    sent = len(receiver.bodies)
    svc.stop()
    assert await task == 0  # the last state is saved at shutdown
    assert svc.state_save_failures == 0
    nc = await nats.connect(url)
    await open_bucket(nc, BUCKET)
    records = await read_prefix(nc.jetstream(), BUCKET, ALERT_PREFIX, AlertRecord)
    assert len(records) == 3000
    assert len(await read_firing(nc, BUCKET)) == 3000
    assert all(r.notified == {"hook": r.notified["hook"]} for r in records.values())
    info = await nc.jetstream().stream_info("KV_" + BUCKET)
    assert info.state.bytes / info.state.messages < 4096  # no value grows with the fleet
    await nc.close()

    svc, task = await start(url, f)  # a restart: all 3000 still firing, none paged again
    assert firing(svc) == 3000
    await publish_risk(url, bots[:1], 5.0)  # one resolves: the proof of what is sent now
    await wait_until(lambda: len(receiver.bodies) == sent + 1)
    await settled(svc, bots[0], 5.0)
    assert [(a["state"], a["bot"]) for a in receiver.bodies[-1]["alerts"]] == [
        ("resolved", "bot-0000")
    ]
    health = svc.health.health_body()[1]
    svc.stop()
    assert await task == 0
    assert len(receiver.bodies) == sent + 1
    await svc.refresh()
    state = svc.health.checks["state"]
    assert state.ok and state.details["save_failures"] == 0
    assert health["status"] in ("healthy", "degraded")


async def test_a_failing_save_shows_in_health(
    nats_server: EmbeddedNats, receiver: Capture, tmp_path: Path
) -> None:
    url = nats_server.url
    nc = await nats.connect(url)
    # A bucket that refuses every alert record: values over 64 bytes.
    await nc.jetstream().create_key_value(
        KeyValueConfig(bucket=BUCKET, history=1, max_value_size=64)
    )
    await nc.close()
    svc, task = await start(url, rules(tmp_path, receiver.url))
    await publish_risk(url, ["bot-f"], 20.0)
    await wait_until(lambda: svc.state_save_failures > 0)
    await svc.refresh()
    code, body = svc.health.health_body()
    assert (code, body["status"]) == (200, "degraded")
    state = body["checks"]["state"]
    assert state["status"] == "fail" and state["details"]["save_failures"] >= 1
    assert state["details"]["keys_failing"] >= 1
    assert "message size exceeds maximum allowed" in state["details"]["last_error"]
    svc.stop()
    assert await task == 0


async def test_the_old_single_key_layout_is_migrated(
    nats_server: EmbeddedNats, receiver: Capture, tmp_path: Path, capsys: Any
) -> None:
    """A bucket as the service before per-key state left it (tests/alerts/data, written
    by that version: BotDown and MarketDataStale firing for old-1, Drawdown for old-2,
    CircuitBreakerOpen pending for old-3; all sent to `hook`)."""
    url = nats_server.url
    legacy = json.loads(LEGACY.read_text())
    nc = await nats.connect(url)
    kv = await open_bucket(nc, BUCKET)
    for key in ("engine", "firing", "notified"):
        await kv.put(key, json.dumps(legacy[key]).encode())
    from tradewire.consumers.alerts import DEFAULT_RULES

    f = tmp_path / "rules.yaml"  # the default rules, sent as then, no repeat due yet
    f.write_text(
        DEFAULT_RULES.read_text()
        + f"receivers:\n  - name: hook\n    type: webhook\n    url: {receiver.url}\n"
        + "    repeat_interval: 100000h\n"
    )
    svc, task = await start(url, f)
    firing = {(c.rule, c.bot) for c in svc.engine.firing()}
    assert {("BotDown", "old-1"), ("Drawdown", "old-2")} <= firing
    pending = [i for i in svc.engine.instances.values() if i.state == "pending"]
    assert [(i.rule, i.bot) for i in pending] == [("CircuitBreakerOpen", "old-3")]
    for key in ("engine", "firing", "notified"):
        with pytest.raises(KeyNotFoundError):
            await kv.get(key)
    records = await read_prefix(nc.jetstream(), BUCKET, ALERT_PREFIX, AlertRecord)
    assert {(r.instance.rule, r.key[0], r.instance.state) for r in records.values()} >= {
        ("BotDown", "old-1", "firing"),
        ("Drawdown", "old-2", "firing"),
        ("CircuitBreakerOpen", "old-3", "pending"),
    }
    # What was sent before is not sent again. What changed is: MarketDataStale counts
    # only while the bot runs now (old-1 is silent altogether), so it resolves; and old-2
    # has been silent for months, so BotDown fires for it.
    await wait_until(lambda: len(receiver.bodies) == 2)
    got = {(a["state"], a["rule"], a["bot"]) for b in receiver.bodies for a in b["alerts"]}
    assert got == {("resolved", "MarketDataStale", "old-1"), ("firing", "BotDown", "old-2")}
    svc.stop()
    assert await task == 0
    svc, task = await start(url, f)  # and the new layout loads as it was left
    assert {(c.rule, c.bot) for c in svc.engine.firing()} == {
        ("BotDown", "old-1"),
        ("BotDown", "old-2"),
        ("Drawdown", "old-2"),
    }
    svc.stop()
    assert await task == 0
    await nc.close()
    assert len(receiver.bodies) == 2
