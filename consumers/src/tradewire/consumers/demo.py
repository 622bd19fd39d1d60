"""``tradewire demo``: an embedded NATS, the three services, a simulated fleet, and the
console to watch it in.

The console's URL is the first line printed. The fleet runs until Ctrl-C (or for
``duration`` seconds); then the demo checks that every emitted event is in the stream
and in DuckDB exactly once, writes the daily report and says how to query the store.
While it runs, the report is rewritten every ``REPORT_EVERY_S`` seconds, so the
console's report link has something to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import secrets
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from nats.aio.client import Client

from tradewire.publisher import ensure_events_stream
from tradewire.schemas import Envelope, Subjects, kind_of

from ._nats import connect_client
from .alerts import AlertsConfig, AlertsService
from .metrics import MetricsConfig, MetricsService
from .report import build_report, render_html, render_json, render_text
from .runtime import ConsumerService
from .simulate import Progress, SimulationConfig, print_progress, run_simulation
from .sql_client import open_runner
from .store import StoreConfig, StoreService
from .tail import describe, tail

__all__ = ["DEMO_ROOT", "run_demo"]

log = logging.getLogger("tradewire.demo")

DEMO_ROOT = "tradewire-demo"  # on a shared NATS: the demo's own subjects and streams
REPORT_FIRST_S = 15.0  # the first report, once the fleet has a little history
REPORT_EVERY_S = 60.0

# Too frequent to be worth a line each; they still count in the totals.
_ROUTINE = frozenset({"mark", "cycle", "heartbeat", "broker_call"})


class _Sampler:
    """Print a few notable events per second (orders, fills, guards, ...) and count them all."""

    def __init__(self, per_second: int = 3) -> None:
        self.per_second = per_second
        self.counts: Counter[str] = Counter()
        self._window = 0.0
        self._printed = 0

    def __call__(self, event: Envelope) -> None:
        kind = kind_of(event)
        self.counts[kind] += 1
        if kind in _ROUTINE:
            return
        now = time.monotonic()
        if now - self._window >= 1.0:
            self._window, self._printed = now, 0
        if self._printed < self.per_second:
            self._printed += 1
            print("  " + describe(event))


def _stored_of_runs(store: StoreService, runs: list[str]) -> tuple[int, int]:
    """(rows, distinct ids) the store holds for these publisher runs."""
    assert store.writer is not None
    cur = store.writer.con.cursor()
    try:
        row = cur.execute(
            "SELECT count(*), count(DISTINCT id) FROM events WHERE run IN (SELECT unnest(?))",
            [runs],
        ).fetchone()
    finally:
        cur.close()
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def _wait_stored(
    store: StoreService, runs: list[str], expected: int, timeout: float = 30.0
) -> tuple[int, int]:
    """Wait until the store has committed this run's ``expected`` events, or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        got = await asyncio.to_thread(_stored_of_runs, store, runs)
        if got[0] >= expected or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.2)


async def _write_report(
    db: Path, out: Path, url: str | None = None, subjects: Subjects | None = None
) -> list[Path]:
    """Today's report of the demo's store, in the three formats: from the file, or
    (``url``) through the running store while it holds the file."""
    async with open_runner(db, url, subjects or Subjects()) as run:
        report = await build_report(run)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, render in (("txt", render_text), ("json", render_json), ("html", render_html)):
        path = out / f"daily_report_{report.date}.{ext}"
        path.write_text(render(report))
        paths.append(path)
    return paths


class _DemoNames:
    """Names no real service uses: the demo may share a NATS with a production fleet."""

    def __init__(self, subjects: Subjects) -> None:
        tag = f"demo-{int(time.time())}-{secrets.token_hex(3)}"
        self.store = subjects.durable(f"{tag}-store")
        self.store_alerts = subjects.durable(f"{tag}-store-alerts")
        self.metrics = subjects.durable(f"{tag}-metrics")
        self.alerts = subjects.durable(f"{tag}-alerts")
        self.bucket = subjects.alerts_bucket + "_" + tag.replace("-", "_")


async def _remove(nc: Client, subjects: Subjects, names: _DemoNames) -> None:
    """Delete what the demo created on NATS (its consumers and bucket), whatever happened."""
    js = nc.jetstream()
    for stream, durable in (
        (subjects.events_stream, names.store),
        (subjects.events_stream, names.metrics),
        (subjects.events_stream, names.alerts),
        (subjects.alerts_stream, names.store_alerts),
    ):
        with contextlib.suppress(Exception):  # never created, or already gone
            await js.delete_consumer(stream, durable)
    with contextlib.suppress(Exception):
        await js.delete_key_value(names.bucket)


async def run_demo(
    url: str,
    config: SimulationConfig,
    subjects: Subjects,
    out_dir: Path,
    *,
    console_port: int = 0,
    nats_note: str = "",
) -> int:
    """Fleet -> NATS -> services; watch it in the console, then check every event was
    stored once. ``config.duration`` 0 runs until Ctrl-C (SIGINT) or SIGTERM.

    Whatever happens (an error, Ctrl-C), every service the demo started is stopped and its
    consumers and bucket are deleted from NATS.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    demo = _Demo(url, config, subjects, out_dir)
    demo.console_port, demo.nats_note = console_port, nats_note
    demo.nc = await connect_client(url, name="tradewire-demo")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, demo.stop.set)
    try:
        await ensure_events_stream(demo.nc, subjects)
        return await demo.run()
    finally:
        await demo.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)


class _Demo:
    def __init__(
        self, url: str, config: SimulationConfig, subjects: Subjects, out_dir: Path
    ) -> None:
        self.url = url
        self.config = config
        self.subjects = subjects
        self.out_dir = out_dir
        self.db = out_dir / "fleet.duckdb"
        self.names = _DemoNames(subjects)
        self.nc: Client | None = None
        self.stop = asyncio.Event()
        self.running: list[tuple[ConsumerService, asyncio.Task[int]]] = []
        self.console_port = 0
        self.nats_note = ""

    async def start(self, service: ConsumerService) -> asyncio.Task[int]:
        task = await service.start()
        self.running.append((service, task))
        return task

    async def close(self) -> None:
        for service, task in reversed(self.running):
            if not task.done():
                service.stop()
            with contextlib.suppress(Exception):
                await task
        if self.nc is not None:
            await _remove(self.nc, self.subjects, self.names)
            await self.nc.close()

    async def run(self) -> int:
        assert self.nc is not None
        nc, url, config, subjects, db, names = (
            self.nc,
            self.url,
            self.config,
            self.subjects,
            self.db,
            self.names,
        )
        js = nc.jetstream()
        before = (await js.stream_info(subjects.events_stream)).state.messages
        reports = self.out_dir / "reports"

        # The console first: its URL is the first thing the demo prints.
        metrics = MetricsService(
            MetricsConfig(
                nats_url=url,
                root=subjects.root,
                http_port=self.console_port,
                durable=names.metrics,
                alerts_bucket=names.bucket,
                reports_dir=str(reports),
            )
        )
        metrics_task = await self.start(metrics)
        assert metrics.http is not None
        base = f"http://127.0.0.1:{metrics.http.port}"
        print(f"console: {base}/   (open it in a browser)", flush=True)
        print(
            f"nats: {url}{f' ({self.nats_note})' if self.nats_note else ''}; subject root: "
            f"{subjects.root}"
        )
        print(f"metrics: {base}/metrics  (/metrics.json, /health); reports: {base}/reports/")
        store = StoreService(
            StoreConfig(
                nats_url=url,
                root=subjects.root,
                db=str(db),
                http_port=0,
                durable=names.store,
                alerts_durable=names.store_alerts,
            )
        )
        store_task = await self.start(store)
        assert store.http is not None
        print(f"store: {db}  (health: http://127.0.0.1:{store.http.port}/health)")
        alerts = AlertsService(
            AlertsConfig(
                nats_url=url,
                root=subjects.root,
                http_port=0,
                durable=names.alerts,
                state_bucket=names.bucket,
            )
        )
        alerts_task = await self.start(alerts)
        print(f"alerts: {len(alerts.engine.rules)} default rules, logged as they fire")
        sampler = _Sampler()
        tail_stop = asyncio.Event()
        watcher = asyncio.create_task(
            tail(url, subjects, out=io.StringIO(), stop=tail_stop, on_event=sampler)
        )
        reporter = asyncio.create_task(self._report_while_running(reports))

        def progress(p: Progress) -> None:
            print_progress(p)
            print(
                f"         stored {store.stored:,}  quarantined {sum(store.quarantined.values())}",
                file=sys.stderr,
            )

        try:
            with tempfile.TemporaryDirectory(prefix="tradewire-outbox-") as outbox:
                how_long = (
                    f"for {config.duration:g}s (Ctrl-C stops sooner)"
                    if config.duration
                    else "until Ctrl-C"
                )
                print(
                    f"simulating {config.bots} bots at {config.rate:g} events/s each {how_long}",
                    flush=True,
                )
                result = await run_simulation(
                    url, config, Path(outbox), progress=progress, stop=self.stop
                )
            print("stopping: draining the fleet's events and checking them", flush=True)
            stored, distinct = await _wait_stored(store, list(result.runs.values()), result.acked)
        finally:
            reporter.cancel()
            tail_stop.set()
            await watcher
            await asyncio.gather(reporter, return_exceptions=True)
        after = (await js.stream_info(subjects.events_stream)).state.messages
        await asyncio.sleep(0.2)  # the metrics consumer batches for up to 50 ms
        equity = {k[0]: v for k, v in metrics.agg.families["equity_dollars"].values.items()}
        print(
            "equity by bot (from the metrics service): "
            + ", ".join(f"{b} {v:,.2f}" for b, v in sorted(equity.items()))
        )
        for service in (metrics, alerts):
            service.stop()
        await metrics_task
        await alerts_task
        changes = sum(alerts.published.values())
        for _ in range(100):  # the store's alerts consumer batches for up to 0.5 s
            if store.alerts_stored >= changes:
                break
            await asyncio.sleep(0.05)
        firing = sorted({f"{a.rule}@{a.bot}" for a in alerts.engine.firing()})
        print(
            f"alerts: {changes} state change(s) published, {store.alerts_stored} stored; "
            f"firing at the end: {', '.join(firing) or 'none'}"
        )
        store.stop()
        await store_task
        in_stream = after - before
        print(
            f"\nemitted {result.emitted:,} events in {result.elapsed:.1f}s "
            f"({result.emitted / max(result.elapsed, 1e-9):,.0f}/s); acked {result.acked:,}; "
            f"in {subjects.events_stream}: {in_stream:,}; stored in DuckDB: {stored:,}; "
            f"seen live: {sum(sampler.counts.values()):,}"
        )
        print("by kind: " + ", ".join(f"{k} {n:,}" for k, n in sorted(result.by_kind.items())))
        same = in_stream == stored == distinct == result.acked == result.emitted
        ok = same and not result.dropped
        print(
            "OK: every emitted event is in the stream and in DuckDB exactly once"
            if ok
            else "MISMATCH: see the counts above"
        )
        written = await _write_report(db, reports)
        print(f"daily report: {', '.join(str(p) for p in written)}")
        print(
            f'explore it:  uv run tradewire sql "SELECT bot, count(*) FROM orders GROUP BY bot" '
            f"--db {db}"
        )
        return 0 if ok else 1

    async def _report_while_running(self, out: Path) -> None:
        """Rewrite the daily report now and then, through the running store, so the
        console's report link shows the run so far."""
        await asyncio.sleep(REPORT_FIRST_S)
        while True:
            try:
                await _write_report(self.db, out, self.url, self.subjects)
            except Exception as exc:  # the demo goes on; the final report is written anyway
                log.warning("demo: writing the report failed: %r", exc)
            await asyncio.sleep(REPORT_EVERY_S)
