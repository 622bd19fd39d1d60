"""`tradewire alerts check` and `silence` catch what would silently do nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from tradewire.consumers.alerts import AlertsConfig, AlertsService
from tradewire.consumers.cli import main
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.schemas import Heartbeat, Subjects, encode


@pytest.mark.parametrize("text", ["", "rules: []\n", "receivers: []\n"])
def test_a_rules_file_without_rules_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    assert main(["alerts", "check", str(path)]) == 2
    assert (
        capsys.readouterr().err
        == f"tradewire alerts: {path}: no rules (an alerts service would watch nothing)\n"
    )


def _silence(url: str, *matchers: str) -> list[str]:
    return [
        "alerts",
        "silence",
        *matchers,
        "--for",
        "1h",
        "--comment",
        "test (me)",
        "--nats-url",
        url,
    ]


@pytest.mark.nats
async def test_silences_for_unknown_rules_or_bots_warn(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path, capsys: Any
) -> None:
    url = nats_server.url
    hb = Heartbeat(id="k-1", bot="known-bot", run="k", seq=1, ts=1e9)
    await nc.jetstream().publish(subjects.event("known-bot", "heartbeat"), encode(hb))
    # No alerts service has run yet: the default rules are what it would run.
    assert (
        await asyncio.to_thread(main, _silence(url, "--rule", "BotDown", "--bot", "known-bot")) == 0
    )
    assert capsys.readouterr().err == ""
    assert await asyncio.to_thread(main, _silence(url, "--rule", "BotDwn", "--bot", "nobody")) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "warning: no rule 'BotDwn' in the default rules; this silence matches nothing",
        "warning: bot 'nobody' has no events in TRADEWIRE_EVENTS; check the id",
    ]
    # Once a service runs, its rules are the ones that count: here only Drawdown.
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: Drawdown\n    kind: threshold\n    event: risk\n"
        "    field: drawdown_pct\n    warning: 10\n"
    )
    svc = AlertsService(AlertsConfig(nats_url=url, http_port=0, rules=str(rules)))
    task = await svc.start(20)
    try:
        assert await asyncio.to_thread(main, _silence(url, "--rule", "BotDown")) == 0
        assert capsys.readouterr().err == (
            "warning: no rule 'BotDown' in the alerts service; this silence matches nothing\n"
        )
        assert await asyncio.to_thread(main, _silence(url, "--rule", "Drawdown")) == 0
        assert capsys.readouterr().err == ""
    finally:
        svc.stop()
        assert await task == 0
