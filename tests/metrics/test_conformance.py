"""Seed conformance: the seed bots' own alert rules and dashboards, unchanged, against a real
Prometheus (Debian's 2.42) scraping ``serve metrics`` with every profile on, while the
incidents scenario runs.

The rule files under ``seeds/`` are loaded as the seeds wrote them (sources in their
headers). Two of them evaluate every 30 s (``interval: 30s``); so that the test need not
wait half a minute per evaluation, each is also loaded as a copy that evaluates every
second, its rules marked with a ``conformance: 1s`` label. What is asserted, via
Prometheus's HTTP API:

- every rule is loaded and evaluates without error (``health`` ok);
- every rule's left-hand side (the expression before its final comparison) returns data,
  except the node, postgres and redis exporters' (``INFRA``);
- every rule whose threshold the scenario crosses is pending or firing (firing where it
  has no ``for``); the ``up{job=...}`` rules see the service up and stay inactive;
- no alert is pending or firing for the calm bot;
- every panel query of both dashboards and of TRADERAGENT's README returns data;
- each scrape reads cleanly with prometheus_client's parsers (text and OpenMetrics), and
  promtool objects to none of tradewire's own names.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from prometheus_client.openmetrics import parser as om_parser
from prometheus_client.parser import text_string_to_metric_families as read_text

from tests.conftest import need_external
from tests.waiting import wait_until
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.consumers.metrics._docs import SCRAPE_JOBS
from tradewire.consumers.metrics._profiles import SEED_PROFILES
from tradewire.consumers.simulate import SimulationConfig, run_simulation

pytestmark = [pytest.mark.nats, pytest.mark.slow]

SEEDS = Path(__file__).parent / "seeds"
RULE_FILES = sorted(p for p in SEEDS.glob("*.yml") if p.name != "panels.yml")
CALM = "sim-bot-5"
# Rules over other exporters' metrics: they load and evaluate, and have no data here.
INFRA = {
    "HighMemoryUsage": "node exporter",
    "HighCPUUsage": "node exporter",
    "DiskSpaceLow": "node exporter",
    "DatabaseDown": 'up{job="postgres"}: the postgres exporter',
    "HighDatabaseConnections": "postgres exporter",
    "RedisDown": 'up{job="redis"}: the redis exporter',
    "RedisHighMemory": "redis exporter",
}
# up{job=...} == 0 on the jobs that scrape the metrics service: it is up throughout.
UP_RULES = {"MetricsEndpointDown", "CoinbaseTraderExporterDown", "BotDown"}
# prometheus_client's OpenMetrics parser has no type annotations.
read_om = cast(Callable[[str], Iterable[Any]], om_parser.text_string_to_metric_families)
_COMPARISON = re.compile(r"(.*?)\s*(?:>=|<=|==|!=|>|<)\s*[-+0-9.eE]+", re.S)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lhs(expr: str) -> str:
    m = _COMPARISON.fullmatch(expr.strip())
    assert m, f"no final comparison in {expr!r}"
    return m[1]


def panel_queries() -> Iterator[tuple[str, str]]:
    for board in yaml.safe_load((SEEDS / "panels.yml").read_text())["dashboards"]:
        for title, exprs in board["panels"].items():
            for expr in exprs:
                yield f"{board['source']['path']}: {title}", expr


def accelerated(path: Path, out: Path) -> Path | None:
    """A copy of a rule file whose groups evaluate every second, or None if they do."""
    data = yaml.safe_load(path.read_text())
    if not any("interval" in g for g in data["groups"]):
        return None
    for g in data["groups"]:
        g["name"] += " (1s)"
        g["interval"] = "1s"
        for r in g["rules"]:
            r.setdefault("labels", {})["conformance"] = "1s"
    target = out / f"{path.stem}.1s.yml"
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


class Prometheus:
    def __init__(self, binary: str, workdir: Path, metrics_port: int) -> None:
        self.port = _free_port()
        self.log = workdir / "prometheus.log"
        rules = [str(p) for p in RULE_FILES]
        rules += [str(p) for p in (accelerated(p, workdir) for p in RULE_FILES) if p]
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": rules,
            "scrape_configs": [
                {
                    "job_name": job,
                    "metrics_path": f"/metrics/{profile}",
                    "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}],
                }
                for job, profile in SCRAPE_JOBS
            ],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={workdir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}{query}", timeout=10) as r:
            return json.loads(r.read()) if path.startswith("/api") else r.status

    def ready(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()[-2000:]
        try:
            return bool(self.get("/-/ready") == 200)
        except OSError:
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.get("/api/v1/query", query=expr)
        assert data["status"] == "success", (expr, data)
        return list(data["data"]["result"])

    def rules(self) -> list[dict[str, Any]]:
        groups = self.get("/api/v1/rules", type="alert")["data"]["groups"]
        return [{**r, "group": g["name"], "file": g["file"]} for g in groups for r in g["rules"]]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _groups(path: Path) -> list[dict[str, Any]]:
    return list(yaml.safe_load(path.read_text())["groups"])


# Files whose groups evaluate every 30 s: their 1 s copies carry the state checks.
SLOW = {p.name for p in RULE_FILES if any("interval" in g for g in _groups(p))}


def problems(prom: Prometheus) -> dict[str, Any]:
    """What does not hold yet (empty when everything the test asserts holds)."""
    out: dict[str, Any] = {}
    rules = prom.rules()
    loaded = {(Path(r["file"]).name, r["name"]) for r in rules if "(1s)" not in r["group"]}
    wanted = {(p.name, r["alert"]) for p in RULE_FILES for g in _groups(p) for r in g["rules"]}
    if loaded != wanted:
        out["not loaded"] = sorted(wanted - loaded)
    for r in rules:
        name, state = r["name"], r["state"]
        if r["health"] == "err":
            out.setdefault("errors", []).append((name, r.get("lastError")))
        if Path(r["file"]).name in SLOW and not r["group"].endswith("(1s)"):
            continue  # evaluated every 30 s, as written: its 1 s copy is checked below
        if r["health"] != "ok":
            out.setdefault("not evaluated", []).append(name)
        if name in INFRA:
            continue
        if not prom.query(lhs(r["query"])):
            out.setdefault("no data", []).append((name, lhs(r["query"])))
        if name in UP_RULES:
            if state != "inactive":
                out.setdefault("up rule active", []).append(name)
        elif state not in (("pending", "firing") if r.get("duration") else ("firing",)):
            out.setdefault("not crossed", []).append((name, state))
    empty = [(panel, expr) for panel, expr in panel_queries() if not prom.query(expr)]
    if empty:
        out["empty panels"] = empty
    return out


@pytest.fixture
async def metrics(nats_server: EmbeddedNats) -> AsyncIterator[MetricsService]:
    service = MetricsService(MetricsConfig(nats_url=nats_server.url, http_port=0, profiles="all"))
    task = await service.start(20)
    yield service
    service.stop()
    await task


def promtool_lints(body: bytes) -> list[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        need_external("promtool", "install Debian's prometheus package")
    assert promtool
    check = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, check=False
    )
    return [line for line in (check.stdout + check.stderr).decode().splitlines() if line]


async def test_seed_rules_and_dashboards_work_unchanged(
    metrics: MetricsService, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        need_external("prometheus", "install Debian's prometheus package")
    assert binary is not None and metrics.http is not None
    port = metrics.http.port
    prom = Prometheus(binary, tmp_path, port)
    stop = asyncio.Event()
    config = SimulationConfig(bots=5, rate=100, duration=0, seed=7, scenario="incidents")
    sim = asyncio.create_task(run_simulation(nats_server.url, config, tmp_path / "ob", stop=stop))
    try:
        await wait_until(lambda: asyncio.to_thread(prom.ready), timeout=20, what="prometheus")
        last: dict[str, Any] = {}

        async def settled() -> bool:
            last.clear()
            last.update(await asyncio.to_thread(problems, prom))
            return not last

        try:
            await wait_until(settled, timeout=40, interval=1.0, what="the seeds' rules, panels")
        except AssertionError:
            pytest.fail(f"still not as the seeds expect: {json.dumps(last, indent=1)}")
        alerts = (await asyncio.to_thread(prom.get, "/api/v1/alerts"))["data"]["alerts"]
        assert {a["labels"]["alertname"] for a in alerts} >= {"WebSocketReconnectLoop"}
        assert [a for a in alerts if a["labels"].get("bot") == CALM] == []
        # Every scrape reads cleanly with prometheus_client's own parsers.
        url = f"http://127.0.0.1:{port}/metrics"

        def scrape(accept: str) -> bytes:
            req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
            with urllib.request.urlopen(req, timeout=10) as r:
                return bytes(r.read())

        text = await asyncio.to_thread(scrape, "")
        om = await asyncio.to_thread(scrape, "application/openmetrics-text; version=1.0.0")
        assert len(list(read_text(text.decode()))) > 200
        assert len(list(read_om(om.decode()))) > 200
        # promtool lints only names the seeds chose (e.g. a counter without _total).
        seed_prefixes = tuple(f"{p}_" for prof in SEED_PROFILES for p in prof.custom_prefixes)
        lints = await asyncio.to_thread(promtool_lints, text)
        assert lints and all(line.startswith(seed_prefixes) for line in lints), lints
    finally:
        stop.set()
        await sim
        prom.stop()
