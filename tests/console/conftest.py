"""The console's services on a real nats-server: metrics (which serves the console) and
alerts (whose bucket holds firing alerts and silences)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.http_raw import raw
from tests.waiting import wait_until
from tradewire.consumers.alerts import AlertsConfig, AlertsService
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.publisher import Publisher, PublisherConfig
from tradewire.schemas import Envelope


class Console:
    """The running services, and the console's HTTP API as a test calls it."""

    def __init__(
        self, url: str, metrics: MetricsService, alerts: AlertsService | None, tmp: Path
    ) -> None:
        self.url = url
        self.tmp = tmp  # the test's: publishers keep their outboxes there
        self.metrics = metrics
        self.alerts = alerts
        assert metrics.http is not None
        self.port = metrics.http.port
        self.base = f"http://127.0.0.1:{self.port}"

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = b"" if body is None else json.dumps(body).encode()
        head = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if body is not None:
            head.setdefault("Content-Type", "application/json")
            head["Content-Length"] = str(len(data))
        lines = "".join(f"{k}: {v}\r\n" for k, v in head.items())
        code, _, answer = await raw(
            self.port, f"{method} {path} HTTP/1.1\r\n{lines}\r\n".encode() + data
        )
        return code, json.loads(answer)

    async def fleet(self) -> dict[str, Any]:
        code, data = await self.call("GET", "/api/fleet")
        assert code == 200, data
        return dict(data)

    async def metrics_json(self) -> dict[str, Any]:
        code, data = await self.call("GET", "/metrics.json")
        assert code == 200
        return dict(data)

    async def folded(self, events: int) -> None:
        """Wait until the metrics service has folded in ``events`` events."""

        async def count() -> float:
            rows = (await self.metrics_json())["metrics"]["tradewire_pipeline_events_total"]
            return float(sum(r["value"] for r in rows))

        await wait_until(lambda: _at_least(count(), events), what=f"{events} events folded")

    async def emit(self, bot: str, *events: Envelope) -> None:
        """Publish events as ``bot`` and wait for their acks."""
        config = PublisherConfig(url=self.url, heartbeat_interval_s=0, lifecycle_events=False)
        async with Publisher(bot, config, outbox_dir=self.tmp / "outbox" / bot) as pub:
            for ev in events:
                pub.emit(ev)
            await pub.flush(10.0)


async def _at_least(value: Any, n: float) -> bool:
    return bool(await value >= n)


async def _start(
    nats_server: EmbeddedNats, tmp_path: Path, *, alerts: bool, **metrics_config: Any
) -> AsyncIterator[Console]:
    url = nats_server.url
    alerts_service = AlertsService(AlertsConfig(nats_url=url, http_port=0)) if alerts else None
    alerts_task = await alerts_service.start(20) if alerts_service else None
    metrics = MetricsService(
        MetricsConfig(
            nats_url=url, http_port=0, reports_dir=str(tmp_path / "reports"), **metrics_config
        )
    )
    metrics_task = await metrics.start(20)
    try:
        yield Console(url, metrics, alerts_service, tmp_path)
    finally:
        metrics.stop()
        if alerts_service is not None:
            alerts_service.stop()
        await asyncio.gather(metrics_task, *([alerts_task] if alerts_task else []))


@pytest.fixture
async def console(nats_server: EmbeddedNats, tmp_path: Path) -> AsyncIterator[Console]:
    """The metrics service (serving the console) and the alerts service."""
    async for c in _start(nats_server, tmp_path, alerts=True):
        yield c


@pytest.fixture
async def console_alone(nats_server: EmbeddedNats, tmp_path: Path) -> AsyncIterator[Console]:
    """The metrics service with no alerts service ever run on its root."""
    async for c in _start(nats_server, tmp_path, alerts=False):
        yield c
