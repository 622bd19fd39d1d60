"""Every service's own ``/metrics``: promtool-valid, gzipped when asked, values that add up.

Checked with the real promtool and a real Prometheus scraping the store (Prometheus asks
for gzip), against services on a real nats-server.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client

from tests.alerts.test_service import rules_file
from tests.conftest import RunningStore, need_external
from tests.http_capture import Capture, capture
from tests.net import web_server
from tests.waiting import wait_until
from tradewire.consumers.alerts import AlertsConfig, AlertsService
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.consumers.runtime import ConsumerService
from tradewire.publisher import Publisher
from tradewire.schemas import Mark, Subjects, encode

pytestmark = pytest.mark.nats

_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(service: ConsumerService, *, gzip_ok: bool = True) -> tuple[str, str]:
    """``(Content-Encoding, text)`` of the service's ``/metrics``."""
    assert service.http is not None
    req = urllib.request.Request(
        f"http://127.0.0.1:{service.http.port}/metrics",
        headers={"Accept-Encoding": "gzip"} if gzip_ok else {},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        encoding = r.headers.get("Content-Encoding") or ""
        raw = r.read()
    return encoding, (gzip.decompress(raw) if encoding == "gzip" else raw).decode()


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels...}`` (extra labels allowed); KeyError if absent."""
    for line in text.splitlines():
        m = _SAMPLE.fullmatch(line)
        if m and m[1] == name and labels.items() <= dict(_LABEL.findall(m[2] or "")).items():
            return float(m[3])
    raise KeyError(f"{name}{labels}")


def promtool_check(text: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        need_external("promtool", "install Debian's prometheus package")
    assert promtool is not None
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr


async def test_store_metrics(store: RunningStore, nc: Client, subjects: Subjects) -> None:
    js = nc.jetstream()
    for i in range(3):
        ev = Mark(symbol="X", price=1.0, id=f"m-{i}", bot="b1", run="m", seq=i + 1, ts=1.7e9)
        await js.publish(subjects.event("b1", "mark"), encode(ev))
    await js.publish(subjects.event("b1", "mark"), b"{not json")
    svc = store.service
    await wait_until(lambda: svc.stored == 3 and sum(svc.quarantined.values()) == 1)
    await wait_until(store.caught_up, what="all acked")
    encoding, text = await asyncio.to_thread(scrape, svc)
    assert encoding == "gzip"
    await asyncio.to_thread(promtool_check, text)
    assert value(text, "tradewire_pipeline_events_stored_total") == 3
    assert value(text, "tradewire_pipeline_quarantined_total", reason="malformed") == 1
    assert value(text, "tradewire_pipeline_duplicates_total") == 0
    assert value(text, "tradewire_pipeline_write_duration_seconds_count") >= 1
    durable = svc.config.durable
    assert value(text, "tradewire_pipeline_messages_total", consumer=durable, outcome="ack") == 4
    assert value(text, "tradewire_pipeline_messages_total", consumer=durable, outcome="nak") == 0
    assert value(text, "tradewire_pipeline_batches_total", consumer=durable) >= 1
    assert value(text, "tradewire_pipeline_batch_duration_seconds_count", consumer=durable) >= 1
    assert value(text, "tradewire_pipeline_consumer_lag", consumer=durable) == 0
    assert value(text, "tradewire_pipeline_redelivered_total", consumer=durable) == 0
    assert value(text, "tradewire_pipeline_batches_total", consumer=svc.config.alerts_durable) == 0
    assert value(text, "tradewire_pipeline_nats_connected") == 1
    assert value(text, "tradewire_pipeline_ready") == 1
    assert value(text, "tradewire_pipeline_last_error_timestamp_seconds") == 0
    encoding, plain = await asyncio.to_thread(scrape, svc, gzip_ok=False)
    assert encoding == "" and value(plain, "tradewire_pipeline_events_stored_total") == 3


@pytest.fixture
def receiver() -> Iterator[Capture]:
    yield from capture()


async def test_alerts_metrics_count_notifications_and_state_save_failures(
    nats_server: EmbeddedNats, nc: Client, receiver: Capture, tmp_path: Path
) -> None:
    rules = rules_file(tmp_path, receiver.url + "/hook")  # Drawdown; receivers hook, dead
    svc = AlertsService(
        AlertsConfig(nats_url=nats_server.url, http_port=0, rules=str(rules), tick_s=0.1)
    )
    task = await svc.start(20)
    _, text = await asyncio.to_thread(scrape, svc)
    await asyncio.to_thread(promtool_check, text)
    assert value(text, "tradewire_pipeline_alert_rules") == 1
    for name in ("hook", "dead"):  # present before anything is sent
        assert value(text, "tradewire_pipeline_notifications_sent_total", receiver=name) == 0
        assert value(text, "tradewire_pipeline_notifications_failed_total", receiver=name) == 0
    assert value(text, "tradewire_pipeline_state_save_failures_total") == 0
    # The state bucket goes away: the next save fails, and says so.
    await nc.jetstream().delete_key_value(svc.config.state_bucket)
    async with Publisher(
        "bot-dd", url=nats_server.url, outbox_dir=tmp_path / "o", heartbeat_interval_s=0
    ) as tel:
        tel.risk(drawdown_pct=12)
        assert await tel.flush(10)
    await wait_until(lambda: svc.notifier.sent["hook"] == 1 and svc.notifier.failed["dead"] == 1)
    _, text = await asyncio.to_thread(scrape, svc)
    await asyncio.to_thread(promtool_check, text)
    assert value(text, "tradewire_pipeline_notifications_sent_total", receiver="hook") == 1
    assert value(text, "tradewire_pipeline_notifications_failed_total", receiver="dead") == 1
    assert value(text, "tradewire_pipeline_state_save_failures_total") >= 1
    assert value(text, "tradewire_pipeline_alerts_firing", severity="warning") == 1
    assert value(text, "tradewire_pipeline_alert_changes_published_total", state="firing") == 1
    svc.stop()
    assert await task == 0


async def test_metrics_service_adds_its_own_to_the_fleets(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    svc = MetricsService(
        MetricsConfig(nats_url=nats_server.url, http_port=0, metric_prefix="gpt_trader")
    )
    task = await svc.start(20)
    async with Publisher(
        "bot-m",
        url=nats_server.url,
        outbox_dir=tmp_path / "o",
        heartbeat_interval_s=0,
        lifecycle_events=False,
    ) as tel:
        tel.heartbeat()
        assert await tel.flush(10)
    await wait_until(lambda: svc.consumer is not None and svc.consumer.handled >= 1)
    encoding, text = await asyncio.to_thread(scrape, svc)
    assert encoding == "gzip"
    await asyncio.to_thread(promtool_check, text)
    assert value(text, "gpt_trader_pipeline_events_total", bot="bot-m", kind="heartbeat") == 1
    durable = svc.config.durable
    assert value(text, "gpt_trader_pipeline_messages_total", consumer=durable, outcome="ack") == 1
    assert value(text, "gpt_trader_pipeline_ready") == 1
    svc.stop()
    assert await task == 0


async def test_prometheus_scrapes_the_store(
    store: RunningStore, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        need_external("prometheus", "install Debian's prometheus package")
    assert binary is not None and store.service.http is not None
    js = nc.jetstream()
    for i in range(2):
        ev = Mark(symbol="X", price=1.0, id=f"p-{i}", bot="b1", run="p", seq=i + 1, ts=1.7e9)
        await js.publish(subjects.event("b1", "mark"), encode(ev))
    await wait_until(lambda: store.service.stored == 2)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: store\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{store.service.http.port}']}}]\n"
    )
    with web_server(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}"],
        tmp_path / "prometheus.log",
    ) as url:

        def query(promql: str) -> list[dict[str, object]]:
            with urllib.request.urlopen(
                f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}), timeout=5
            ) as r:
                result: list[dict[str, object]] = json.loads(r.read())["data"]["result"]
                return result

        stored = 'tradewire_pipeline_events_stored_total{job="store"} == 2'
        await wait_until(
            lambda: asyncio.to_thread(query, stored), timeout=45, what="Prometheus saw 2 stored"
        )
        assert await asyncio.to_thread(query, 'tradewire_pipeline_ready{job="store"} == 1')
        assert await asyncio.to_thread(query, 'up{job="store"} == 1')
