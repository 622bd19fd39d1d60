"""The alertmanager receiver against a real Alertmanager (Debian's prometheus-alertmanager):
it accepts our postable alerts, routes them to its own webhook, and resolves them."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.conftest import need_external
from tests.http_capture import Capture, capture
from tests.net import web_server
from tests.waiting import wait_until
from tradewire.consumers.alerts import Notifier, parse_receivers
from tradewire.schemas import AlertChange


def alertmanager_binary() -> str:
    for name in ("alertmanager", "prometheus-alertmanager"):
        found = shutil.which(name)
        if found:
            return found
    need_external("alertmanager", "install Debian's prometheus-alertmanager")
    raise AssertionError("unreachable")


@pytest.fixture
def hook() -> Iterator[Capture]:
    yield from capture()


@pytest.fixture
def alertmanager(tmp_path: Path, hook: Capture) -> Iterator[str]:
    binary = alertmanager_binary()
    config = tmp_path / "am.yml"
    config.write_text(
        f"""
route:
  receiver: hook
  group_by: [alertname, bot]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {hook.url}/from-alertmanager
        send_resolved: true
"""
    )
    with web_server(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'am-data'}",
            "--cluster.listen-address=",
        ],
        tmp_path / "am.log",
    ) as url:
        yield url


def am_alerts(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(url + "/api/v2/alerts", timeout=5) as r:
        data: list[dict[str, Any]] = json.loads(r.read())
        return data


async def test_alerts_forwarded_to_alertmanager_fire_and_resolve(
    alertmanager: str, hook: Capture
) -> None:
    n = Notifier(parse_receivers([{"name": "am", "type": "alertmanager", "url": alertmanager}]))
    now = time.time()
    fire = AlertChange(
        id="fp-am-1",
        fingerprint="fpam",
        rule="BotDown",
        bot="bot-7",
        state="firing",
        severity="critical",
        ts=now,
        active_since=now - 5,
        value=130.0,
        summary="No heartbeat from the bot",
        runbook="docs/runbooks.md#botdown",
    )
    n.notify(fire, now)
    await n.drain()
    assert n.sent["am"] == 1, dict(n.failed)
    held = am_alerts(alertmanager)
    assert [a["labels"] for a in held] == [
        {"alertname": "BotDown", "bot": "bot-7", "severity": "critical"}
    ]
    assert held[0]["status"]["state"] == "active"
    assert held[0]["annotations"]["runbook_url"] == "docs/runbooks.md#botdown"
    await wait_until(lambda: len(hook.requests) >= 1)
    assert hook.bodies[0]["status"] == "firing"
    assert hook.bodies[0]["alerts"][0]["labels"]["bot"] == "bot-7"

    resolved = msgspec.structs.replace(fire, id="fp-am-2", state="resolved", ts=time.time())
    n.notify(resolved, time.time())
    await n.drain()
    await wait_until(lambda: any(b["status"] == "resolved" for b in hook.bodies))
    assert am_alerts(alertmanager) == []  # no longer active there either
