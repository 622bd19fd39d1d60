"""The whole fleet under its generated permissions: every service and operator command
does its job with nothing refused, and leaves an audit trail naming who did what."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest

from tests.security.conftest import bot_publisher, store_config
from tests.waiting import wait_until
from tradewire.consumers.alerts import AlertsConfig, AlertsService
from tradewire.consumers.auth import AuthDir
from tradewire.consumers.cli import main
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.consumers.store import StoreService

pytestmark = pytest.mark.nats


def _seed(fleet: AuthDir, name: str) -> str:
    return str(fleet.seed_path(fleet.find(name)))


def _audit(caplog: pytest.LogCaptureFixture, action: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tradewire.audit" and f"action={action}" in r.getMessage()
    ]


async def test_every_role_does_its_job_and_is_audited(
    secure_nats: EmbeddedNats,
    fleet: AuthDir,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    url = secure_nats.url
    store = StoreService(store_config(secure_nats, fleet, tmp_path))
    metrics = MetricsService(
        MetricsConfig(nats_url=url, http_port=0, nats_nkey_seed=_seed(fleet, "metrics"))
    )
    alerts = AlertsService(
        AlertsConfig(nats_url=url, http_port=0, nats_nkey_seed=_seed(fleet, "alerts"))
    )
    ana = ["--nats-url", url, "--nats-nkey-seed", _seed(fleet, "ana")]
    tasks = [await store.start(20)]
    try:
        async with bot_publisher(secure_nats, fleet, "bot-a", tmp_path / "ob") as tel:
            for i in range(10):
                tel.mark(symbol="BTC-USD", price=100.0 + i)
            assert await tel.flush(20)
        await wait_until(lambda: store.stored == 12, what="stored")
        # Started after the events: they read the stream's history with their own consumers.
        tasks += [await metrics.start(20), await alerts.start(20)]
        assert metrics.seeded == 2  # bot-a's last lifecycle event and last mark
        assert any("12 recent events replayed" in r.getMessage() for r in caplog.records)
        async with bot_publisher(secure_nats, fleet, "bot-a", tmp_path / "ob") as tel:
            tel.mark(symbol="BTC-USD", price=1.0)
            assert await tel.flush(20)
        await wait_until(lambda: store.stored == 15, what="stored")
        # The operator watches events live (tail: a plain subscription).
        watching = asyncio.create_task(
            asyncio.to_thread(main, ["tail", "--count", "1", "--bot", "bot-a", *ana])
        )
        bot = bot_publisher(secure_nats, fleet, "bot-a", tmp_path / "ob", lifecycle_events=False)
        async with bot as tel:

            def seen() -> bool:  # publish until tail, subscribing meanwhile, shows one
                tel.mark(symbol="ETH-USD", price=2.0)
                return watching.done()

            await wait_until(seen, interval=0.05, what="tail to show an event")
        assert await watching == 0
        await wait_until(lambda: metrics.consumer is not None and metrics.consumer.handled >= 3)
        await wait_until(lambda: alerts.consumer is not None and alerts.consumer.handled >= 3)

        def run(*argv: str) -> str:
            capsys.readouterr()
            assert main([*argv, *ana]) == 0, capsys.readouterr().err
            return capsys.readouterr().out

        sql = "SELECT count(*) AS n FROM marks WHERE bot = 'bot-a' AND symbol = 'BTC-USD'"
        out = await asyncio.to_thread(run, "sql", sql, "--format", "csv")
        assert out.splitlines()[-1] == "11"
        assert "messages" in await asyncio.to_thread(run, "stream", "info")
        await asyncio.to_thread(run, "stream", "set", "--max-age", "30d")
        out = await asyncio.to_thread(
            run, "alerts", "silence", "--bot", "bot-a", "--for", "1h", "--comment", "test (ana)"
        )
        silence_id = out.split()[0]
        await wait_until(lambda: silence_id in alerts.silences.silences, what="silence seen")
        assert silence_id in await asyncio.to_thread(run, "alerts", "list")
        await asyncio.to_thread(run, "alerts", "unsilence", silence_id)
        await wait_until(lambda: silence_id not in alerts.silences.silences, what="unsilenced")
        out = await asyncio.to_thread(run, "report", "daily", "--output-dir", str(tmp_path))
        assert "bot-a" in out
        # The metrics service follows the alerts bucket (the firing alerts it exports).
        await wait_until(lambda: metrics.alerts.attached, what="metrics reading alerts' bucket")
    finally:
        for service in (store, metrics, alerts):
            service.stop()
        codes = await asyncio.gather(*tasks)
    assert sorted(codes) == [0, 0, 0]
    violations = [
        line for line in secure_nats.log_path.read_text().splitlines() if "Violation" in line
    ]
    assert violations == []

    ana_key = fleet.find("ana").public_key
    [sql_line] = [line for line in _audit(caplog, "sql") if "FROM marks WHERE bot" in line]
    assert f"caller={ana_key}" in sql_line and "signature=verified" in sql_line
    set_lines = _audit(caplog, "silence")
    assert any(f"caller={ana_key}" in x and "signature=verified" in x for x in set_lines)
    assert len(set_lines) == 2  # set, then ended early by ana
    assert _audit(caplog, '"silence removed"')
    [update] = _audit(caplog, '"jetstream STREAM.UPDATE.TRADEWIRE_EVENTS"')
    assert re.search(rf"caller={ana_key} name=tradewire-stream host=127.0.0.1", update)
