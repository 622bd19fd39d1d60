"""``tradewire demo``: an embedded NATS, the store, a simulated fleet and a live view."""

from __future__ import annotations

import asyncio
import contextlib
import io
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

DEMO_ROOT = "tradewire-demo"  # on a shared NATS: the demo's own subjects and streams

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


async def _write_report(db: Path, out: Path) -> list[Path]:
    """Today's report of the demo's store, in the three formats."""
    async with open_runner(db, None, Subjects()) as run:
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


async def run_demo(url: str, config: SimulationConfig, subjects: Subjects, out_dir: Path) -> int:
    """Fleet -> NATS -> store; watch it arrive, then check every event was stored once.

    Whatever happens (an error, Ctrl-C), every service the demo started is stopped and its
    consumers and bucket are deleted from NATS.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    demo = _Demo(url, config, subjects, out_dir)
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

    async def start(self, service: ConsumerService) -> None:
        self.running.append((service, await service.start()))

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
        await self.start(store)
        assert store.http is not None
        print(f"store: {db}  (health: http://127.0.0.1:{store.http.port}/health)")
        metrics = MetricsService(
            MetricsConfig(
                nats_url=url,
                root=subjects.root,
                http_port=0,
                durable=names.metrics,
                alerts_bucket=names.bucket,
            )
        )
        await self.start(metrics)
        assert metrics.http is not None
        print(f"metrics: http://127.0.0.1:{metrics.http.port}/metrics  (/metrics.json, /health)")
        alerts = AlertsService(
            AlertsConfig(
                nats_url=url,
                root=subjects.root,
                http_port=0,
                durable=names.alerts,
                state_bucket=names.bucket,
            )
        )
        await self.start(alerts)
        print(f"alerts: {len(alerts.engine.rules)} default rules, logged as they fire")
        sampler = _Sampler()
        tail_stop = asyncio.Event()
        watcher = asyncio.create_task(
            tail(url, subjects, out=io.StringIO(), stop=tail_stop, on_event=sampler)
        )

        def progress(p: Progress) -> None:
            print_progress(p)
            print(
                f"         stored {store.stored:,}  quarantined {sum(store.quarantined.values())}",
                file=sys.stderr,
            )

        try:
            with tempfile.TemporaryDirectory(prefix="tradewire-outbox-") as outbox:
                print(
                    f"simulating {config.bots} bots at {config.rate:g} events/s each for "
                    f"{config.duration:g}s (Ctrl-C stops)"
                )
                result = await run_simulation(
                    url, config, Path(outbox), progress=progress, stop=self.stop
                )
            stored, distinct = await _wait_stored(store, list(result.runs.values()), result.acked)
        finally:
            tail_stop.set()
            await watcher
        after = (await js.stream_info(subjects.events_stream)).state.messages
        await asyncio.sleep(0.2)  # the metrics consumer batches for up to 50 ms
        equity = {k[0]: v for k, v in metrics.agg.families["equity_dollars"].values.items()}
        print(
            "equity by bot (from the metrics service): "
            + ", ".join(f"{b} {v:,.2f}" for b, v in sorted(equity.items()))
        )
        for service in (metrics, alerts):
            service.stop()
        for _, task in self.running[1:]:
            await task
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
        await self.running[0][1]
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
        reports = await _write_report(db, self.out_dir / "reports")
        print(f"daily report: {', '.join(str(p) for p in reports)}")
        print(
            f'explore it:  uv run tradewire sql "SELECT bot, count(*) FROM orders GROUP BY bot" '
            f"--db {db}"
        )
        return 0 if ok else 1
