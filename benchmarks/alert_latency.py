"""Latency from ``emit`` of the crossing event to the webhook arriving: tradewire's alerts
service vs Prometheus + Alertmanager with their default intervals.

usage: uv run python benchmarks/alert_latency.py [--samples 50] [--prom-bots 6]
       [--skip-prometheus]

tradewire: an embedded nats-server, ``AlertsService`` (default settings: 1 s ticks,
group_wait 0 s) with the default Drawdown rule and a webhook receiver on a local HTTP
server, and a ``Publisher``. Each sample is a new bot whose first risk event crosses the
threshold; latency = webhook arrival - the moment before ``emit``. Everything runs in
this one process (one event loop for publisher and service, the HTTP server in a
thread), so the numbers include their contention.

Prometheus + Alertmanager (Debian's binaries, default scrape_interval 1m,
evaluation_interval 1m, group_wait 30s): the same events go through ``MetricsService``
(``/metrics``), Prometheus scrapes it and evaluates the exported Drawdown rule
(``tradewire rules export --prometheus``), Alertmanager routes to the same kind of
webhook. ``--prom-bots`` bots cross at random moments over two minutes (each its own
alert group), so the samples land at different phases of the scrape and evaluation
clocks. The run is bounded: it stops after 6 minutes whatever arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import WebhookCapture, table

from tradewire.consumers.alerts import DEFAULT_RULES, AlertsConfig, AlertsService, load_rules
from tradewire.consumers.alerts._promql import export_prometheus
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.publisher import Publisher


class Hook(WebhookCapture):
    """The webhook: when the first firing for each bot arrived."""

    @property
    def arrived(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for at, body in list(self.received):
            if body.get("status") == "firing":
                for a in body["alerts"]:
                    out.setdefault(a.get("labels", {}).get("bot") or a.get("bot", ""), at)
        return out


def rules_with_webhook(tmp: Path, url: str) -> Path:
    rules = tmp / "rules.yaml"
    rules.write_text(
        DEFAULT_RULES.read_text()
        + f"\nreceivers:\n  - name: hook\n    type: webhook\n    url: {url}\n"
        + "    format: alertmanager\n"
    )
    return rules


async def tradewire_latencies(url: str, tmp: Path, samples: int) -> list[float]:
    hook = Hook()
    svc = AlertsService(
        AlertsConfig(nats_url=url, http_port=0, rules=str(rules_with_webhook(tmp, hook.url)))
    )
    task = await svc.start()
    out = []
    try:
        for i in range(samples):
            bot = f"tw-{i}"
            async with Publisher(
                bot, url=url, outbox_dir=tmp / f"o{i}", heartbeat_interval_s=0
            ) as tel:
                await asyncio.sleep(random.uniform(0.05, 0.3))  # any phase of the 1 s tick
                t0 = time.time()
                tel.risk(drawdown_pct=12.0, daily_loss_limit=1000)
                deadline = time.monotonic() + 10
                while bot not in hook.arrived and time.monotonic() < deadline:
                    await asyncio.sleep(0.001)
                if bot in hook.arrived:
                    out.append(hook.arrived[bot] - t0)
    finally:
        svc.stop()
        await task
        hook.close()
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not ready")


async def prometheus_latencies(url: str, tmp: Path, bots: int) -> list[float]:
    prom_bin = shutil.which("prometheus")
    am_bin = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")
    if not prom_bin or not am_bin:
        raise RuntimeError("needs Debian's prometheus and prometheus-alertmanager")
    hook = Hook()
    metrics = MetricsService(MetricsConfig(nats_url=url, http_port=0))
    mtask = await metrics.start()
    assert metrics.http is not None
    rules_text, _ = export_prometheus(load_rules(DEFAULT_RULES).rules)
    (tmp / "rules.yml").write_text(rules_text)
    am_port, prom_port = _free_port(), _free_port()
    (tmp / "am.yml").write_text(
        "route:\n  receiver: hook\n  group_by: [alertname, bot]\n"
        f"receivers:\n  - name: hook\n    webhook_configs:\n      - url: {hook.url}\n"
    )
    (tmp / "prom.yml").write_text(
        "rule_files: [rules.yml]\n"
        "alerting:\n  alertmanagers:\n"
        f"    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\n"
        "scrape_configs:\n  - job_name: tradewire\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{metrics.http.port}']}}]\n"
    )
    procs = [
        subprocess.Popen(
            [
                am_bin,
                f"--config.file={tmp / 'am.yml'}",
                f"--storage.path={tmp / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [
                prom_bin,
                f"--config.file={tmp / 'prom.yml'}",
                f"--storage.tsdb.path={tmp / 'prom'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    sent: dict[str, float] = {}
    try:
        _wait_ready(f"http://127.0.0.1:{am_port}/-/ready", procs[0])
        _wait_ready(f"http://127.0.0.1:{prom_port}/-/ready", procs[1])
        moments = sorted(random.uniform(0, 120) for _ in range(bots))
        began = time.monotonic()
        pubs = []
        for i, at in enumerate(moments):
            await asyncio.sleep(max(0.0, at - (time.monotonic() - began)))
            tel = Publisher(f"prom-{i}", url=url, outbox_dir=tmp / f"p{i}", heartbeat_interval_s=0)
            await tel.start()
            pubs.append(tel)
            sent[f"prom-{i}"] = time.time()
            tel.risk(drawdown_pct=12.0, daily_loss_limit=1000)
            await tel.flush(10)
        deadline = time.monotonic() + 360 - (time.monotonic() - began)
        # The stream also holds the tradewire run's bots (tw-*), which the metrics
        # service seeds and Prometheus alerts on too: wait for ours only.
        while sum(b in hook.arrived for b in sent) < bots and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        for tel in pubs:
            await tel.close()
    finally:
        for p in procs:  # only the processes this script started
            p.terminate()
            p.wait(10)
        metrics.stop()
        await mtask
        hook.close()
    return [hook.arrived[b] - t for b, t in sent.items() if b in hook.arrived]


def q(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, round(p * (len(v) - 1)))]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--prom-bots", type=int, default=6)
    ap.add_argument("--skip-prometheus", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        server = EmbeddedNats(store_dir=Path(d) / "js").start()
        try:
            tw = await tradewire_latencies(server.url, Path(d), args.samples)
            rows.append(("tradewire alerts service", tw))
            if not args.skip_prometheus:
                prom = await prometheus_latencies(server.url, Path(d), args.prom_bots)
                rows.append(("Prometheus + Alertmanager (defaults)", prom))
        finally:
            server.close()
    base = statistics.median(rows[0][1]) if rows[0][1] else float("nan")
    print(
        table(
            [
                (
                    name,
                    f"{len(v)}",
                    f"{statistics.median(v) * 1000:.0f} ms",
                    f"{q(v, 0.99) * 1000:.0f} ms",
                    f"{max(v) * 1000:.0f} ms",
                    f"{statistics.median(v) / base:.0f}x",
                )
                for name, v in rows
                if v
            ],
            ("path", "samples", "p50", "p99", "max", "p50 vs tradewire"),
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
