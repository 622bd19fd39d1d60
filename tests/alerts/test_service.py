"""The alerts service with a real nats-server and a local HTTP receiver."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningStore
from tests.http_capture import Capture, capture
from tests.waiting import wait_until
from tradewire.consumers.alerts import AlertsConfig, AlertsService
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.publisher import Publisher

pytestmark = pytest.mark.nats


@pytest.fixture
def receiver() -> Iterator[Capture]:
    yield from capture()


def rules_file(tmp_path: Path, url: str) -> Path:
    f = tmp_path / "rules.yaml"
    f.write_text(f"""
rules:
  - name: Drawdown
    kind: threshold
    event: risk
    field: drawdown_pct
    warning: 10
    resolve: 8
    summary: Drawdown from peak equity
    runbook: docs/runbooks.md#drawdown
receivers:
  - name: hook
    type: webhook
    url: {url}
    format: alertmanager
    group_interval: 1s
  - name: dead
    type: webhook
    url: http://127.0.0.1:1/nothing-listens
    max_attempts: 2
    group_interval: 1s
""")
    return f


async def start(url: str, rules: Path) -> tuple[AlertsService, asyncio.Task[int]]:
    svc = AlertsService(AlertsConfig(nats_url=url, http_port=0, rules=str(rules), tick_s=0.1))
    task = await svc.start(20)
    return svc, task


async def settled(svc: AlertsService, bot: str, value: float) -> None:
    """The service has evaluated ``bot``'s Drawdown at ``value`` and sent what that caused."""
    await wait_until(
        lambda: any(i.bot == bot and i.value == value for i in svc.engine.instances.values()),
        what=f"Drawdown of {bot} evaluated at {value}",
    )
    await svc.notifier.drain()


async def test_crossing_pages_once_resolves_once_and_survives_a_restart(
    nats_server: EmbeddedNats, receiver: Capture, tmp_path: Path
) -> None:
    rules = rules_file(tmp_path, receiver.url + "/hook")
    svc, task = await start(nats_server.url, rules)
    async with Publisher(
        "bot-dd", url=nats_server.url, outbox_dir=tmp_path / "o", heartbeat_interval_s=0
    ) as tel:
        tel.risk(drawdown_pct=5)
        tel.risk(drawdown_pct=12)  # crosses 10: fires
        tel.risk(drawdown_pct=13)  # still firing: no second page
        assert await tel.flush(10)
        await wait_until(lambda: len(receiver.bodies) == 1)
        svc.stop()  # a restart while firing ...
        assert await task == 0
        svc, task = await start(nats_server.url, rules)
        tel.risk(drawdown_pct=9)  # below 10 but above resolve (8): still firing
        assert await tel.flush(10)
        await settled(svc, "bot-dd", 9.0)
        assert len(receiver.bodies) == 1  # ... did not re-page
        tel.risk(drawdown_pct=7)  # below 8: resolves
        assert await tel.flush(10)
        await wait_until(lambda: len(receiver.bodies) == 2)
        tel.risk(drawdown_pct=6)  # still resolved: nothing more to say
        assert await tel.flush(10)
        await settled(svc, "bot-dd", 6.0)
    assert len(receiver.bodies) == 2
    firing, resolved = receiver.bodies
    assert firing["status"] == "firing" and resolved["status"] == "resolved"
    alert = firing["alerts"][0]
    assert alert["labels"] == {"alertname": "Drawdown", "bot": "bot-dd", "severity": "warning"}
    assert alert["annotations"]["runbook_url"] == "docs/runbooks.md#drawdown"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert resolved["alerts"][0]["fingerprint"] == alert["fingerprint"]
    assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    for body in receiver.bodies:  # Alertmanager webhook payload, version 4
        assert set(body) == {
            "version",
            "groupKey",
            "truncatedAlerts",
            "status",
            "receiver",
            "groupLabels",
            "commonLabels",
            "commonAnnotations",
            "externalURL",
            "alerts",
        }
        assert body["version"] == "4" and body["receiver"] == "hook"
    await wait_until(lambda: svc.notifier.failed["dead"] >= 1, timeout=20)
    assert svc.notifier.sent["hook"] == 1  # this process sent the resolve only
    svc.stop()
    assert await task == 0


async def test_a_resolve_waiting_for_group_interval_survives_a_restart(
    nats_server: EmbeddedNats, receiver: Capture, tmp_path: Path
) -> None:
    """Found by benchmarks/soak.py: an alert resolved within group_interval of its page
    waits to be told; the alerts service SIGKILLed meanwhile forgot it, and the receiver
    kept the alert as firing for good."""
    rules = rules_file(tmp_path, receiver.url + "/hook")
    rules.write_text(rules.read_text().replace("group_interval: 1s", "group_interval: 8s"))
    svc, task = await start(nats_server.url, rules)
    async with Publisher(
        "bot-rs", url=nats_server.url, outbox_dir=tmp_path / "o", heartbeat_interval_s=0
    ) as tel:
        tel.risk(drawdown_pct=12)  # fires: paged at once
        assert await tel.flush(10)
        await wait_until(lambda: len(receiver.bodies) == 1)
        tel.risk(drawdown_pct=7)  # resolves: waits for the group's interval
        assert await tel.flush(10)
        await settled(svc, "bot-rs", 7.0)
        assert len(receiver.bodies) == 1
        task.cancel()  # gone without a word, as under SIGKILL (its state is saved)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        svc, task = await start(nats_server.url, rules)
        await wait_until(lambda: len(receiver.bodies) == 2, timeout=30)
    assert [b["status"] for b in receiver.bodies] == ["firing", "resolved"]
    assert (
        receiver.bodies[1]["alerts"][0]["fingerprint"]
        == (receiver.bodies[0]["alerts"][0]["fingerprint"])
    )
    svc.stop()
    assert await task == 0


async def test_state_changes_are_published_on_alert_subjects_and_stored(
    nats_server: EmbeddedNats, receiver: Capture, tmp_path: Path, store: RunningStore
) -> None:
    import nats

    from tradewire.schemas import AlertChange, Subjects

    svc, task = await start(nats_server.url, rules_file(tmp_path, receiver.url + "/hook"))
    nc = await nats.connect(nats_server.url)
    got: list[AlertChange] = []
    import msgspec

    async def on(msg: Any) -> None:
        got.append(msgspec.json.decode(msg.data, type=AlertChange))

    await nc.subscribe(Subjects().alert("bot-p", "Drawdown"), cb=on)
    async with Publisher(
        "bot-p", url=nats_server.url, outbox_dir=tmp_path / "p", heartbeat_interval_s=0
    ) as tel:
        tel.risk(drawdown_pct=11)
        assert await tel.flush(10)
    await wait_until(lambda: len(got) == 1)
    assert (got[0].rule, got[0].bot, got[0].state, got[0].value) == (
        "Drawdown",
        "bot-p",
        "firing",
        11.0,
    )
    info = await nc.jetstream().stream_info("TRADEWIRE_ALERTS")
    assert info.state.messages == 1
    await store.wait_for("SELECT count(*) FROM alerts", 1)
    assert store.rows("SELECT id, rule, bot, state, value FROM alerts") == [
        (got[0].id, "Drawdown", "bot-p", "firing", 11.0)
    ]
    await nc.close()
    svc.stop()
    assert await task == 0


async def test_silence_holds_back_the_page_until_unsilenced_and_survives_a_restart(
    nats_server: EmbeddedNats, receiver: Capture, tmp_path: Path, capsys: Any
) -> None:
    from tradewire.consumers.cli import main

    url = nats_server.url
    code = await asyncio.to_thread(
        main,
        [
            "alerts",
            "silence",
            "--bot",
            "bot-s",
            "--for",
            "1h",
            "--comment",
            "deploy (ana)",
            "--nats-url",
            url,
        ],
    )
    assert code == 0
    silence_id = capsys.readouterr().out.split()[0]
    rules = rules_file(tmp_path, receiver.url + "/hook")
    svc, task = await start(url, rules)
    assert len(svc.silences.silences) == 1
    async with Publisher(
        "bot-s", url=url, outbox_dir=tmp_path / "s", heartbeat_interval_s=0
    ) as tel:
        tel.risk(drawdown_pct=20)
        assert await tel.flush(10)
        await wait_until(lambda: svc.notifier.held["hook"] == 1)
        await svc.notifier.drain()
        assert receiver.bodies == []  # silenced: evaluated and published, not paged
        svc.stop()
        assert await task == 0
        svc, task = await start(url, rules)  # the silence is still there after a restart
        tel.risk(drawdown_pct=21)
        assert await tel.flush(10)
        await settled(svc, "bot-s", 21.0)
        assert receiver.bodies == []
        assert await asyncio.to_thread(main, ["alerts", "list", "--nats-url", url]) == 0
        listing = capsys.readouterr().out
        assert "Drawdown" in listing and "[silenced]" in listing and silence_id in listing
        assert (
            await asyncio.to_thread(main, ["alerts", "unsilence", silence_id, "--nats-url", url])
            == 0
        )
        await wait_until(lambda: len(receiver.bodies) == 1)  # still firing: paged now
    assert receiver.bodies[0]["status"] == "firing"
    assert (
        await asyncio.to_thread(main, ["alerts", "unsilence", silence_id, "--nats-url", url]) == 1
    )
    svc.stop()
    assert await task == 0


async def test_metrics_service_exports_the_firing_alerts(
    nats_server: EmbeddedNats, receiver: Capture, tmp_path: Path
) -> None:
    from tests.metrics.test_service import get
    from tests.metrics.test_service import start as start_metrics

    metrics, mtask = await start_metrics(nats_server.url)
    series = (
        'tradewire_alert_firing{bot="bot-m",alertname="Drawdown",severity="warning",labels=""} 1.0'
    )

    async def scrape() -> str:
        _, _, body = await asyncio.to_thread(get, metrics, "/metrics")
        return body.decode()

    async def shown() -> bool:
        return series in await scrape()

    assert series not in await scrape()  # no alerts bucket yet: no series, no error
    svc, task = await start(nats_server.url, rules_file(tmp_path, receiver.url + "/hook"))
    async with Publisher(
        "bot-m", url=nats_server.url, outbox_dir=tmp_path / "m", heartbeat_interval_s=0
    ) as tel:
        tel.risk(drawdown_pct=12)
        assert await tel.flush(10)
        await wait_until(lambda: len(receiver.bodies) == 1)
        # The metrics service started first, before the alerts bucket existed: it looks
        # for the bucket again every 2 s, then follows it.
        await wait_until(shown, what="the alert on /metrics")
        tel.risk(drawdown_pct=1)
        assert await tel.flush(10)
        await wait_until(lambda: len(receiver.bodies) == 2)
    assert "tradewire_alert_firing{" not in await scrape()
    for s, t in ((svc, task), (metrics, mtask)):
        s.stop()
        assert await t == 0
