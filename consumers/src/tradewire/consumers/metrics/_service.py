"""``tradewire serve metrics``: the fleet's events as Prometheus metrics, live."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections.abc import Sequence

import nats
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from tradewire.consumers.runtime import (
    Acks,
    Check,
    ConsumerSettings,
    Delivery,
    Health,
    HealthServer,
    PullConsumer,
)
from tradewire.publisher import ensure_events_stream
from tradewire.schemas import Event, EventError, Subjects, decode

from ._aggregator import Aggregator, Limits, Window
from ._config import MetricsConfig
from ._signals import signals, summarize

__all__ = ["MetricsService"]

log = logging.getLogger("tradewire.metrics")
TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class MetricsService:
    def __init__(self, config: MetricsConfig) -> None:
        self.config = config
        self.subjects = Subjects(config.root)
        self.agg = Aggregator(
            config.metric_prefix,
            Limits(
                max_label_values=config.max_label_values,
                max_bots=config.max_bots,
                bot_down_after_s=config.bot_down_after_s,
                ws_stale_after_s=config.ws_stale_after_s,
            ),
        )
        self.agg.window = Window(config.signal_window_s)
        self.health = Health(refresh=self._refresh)
        self.consumer: PullConsumer | None = None
        self.http: HealthServer | None = None
        self.nc: Client | None = None
        self.seeded = 0
        self._stop = asyncio.Event()

    # -- events ---------------------------------------------------------------------------
    def _decode(self, d: Delivery) -> Event:
        bot, kind = self.subjects.parse_event(d.subject)
        return decode(d.data, expect_bot=bot, expect_kind=kind)

    async def handle(self, batch: Sequence[Delivery]) -> Acks:
        """Aggregate a batch. Metrics live in memory, so acking at once loses nothing
        that a restart would not reset anyway (counters restart at zero)."""
        now = time.time()
        agg = self.agg
        for d in batch:
            try:
                event = self._decode(d)
            except EventError as exc:
                agg.quarantined.inc((exc.reason,))
                continue
            agg.apply(event, now)
        if batch:
            agg.lag.set((), float(batch[-1].pending))
        return Acks(ack=list(batch))

    async def seed(self) -> int:
        """Set gauges from the last message of every subject (bot and kind) in the stream."""
        assert self.nc is not None
        js = self.nc.jetstream()
        info = await js.stream_info(self.subjects.events_stream)
        if not info.state.messages:
            return 0
        sub = await js.pull_subscribe(
            self.subjects.events_wildcard,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
                ack_policy=AckPolicy.NONE,
                inactive_threshold=30.0,
            ),
        )
        n = 0
        try:
            while True:
                try:
                    msgs = await sub.fetch(1000, timeout=1.0)
                except nats.errors.TimeoutError:
                    break
                for m in msgs:
                    try:
                        bot, kind = self.subjects.parse_event(m.subject)
                        self.agg.apply(decode(m.data, expect_bot=bot, expect_kind=kind), seed=True)
                        n += 1
                    except EventError:
                        continue
                if not msgs or msgs[-1].metadata.num_pending == 0:
                    break
        finally:
            await sub.unsubscribe()
        return n

    # -- HTTP -------------------------------------------------------------------------------
    async def _metrics(self, headers: dict[str, str]) -> tuple[int, str, bytes]:
        om = "application/openmetrics-text" in headers.get("accept", "")
        text = self.agg.registry.render(time.time(), openmetrics=om)
        return 200, OPENMETRICS if om else TEXT, text.encode()

    async def _metrics_json(self, headers: dict[str, str]) -> tuple[int, str, bytes]:
        return 200, "application/json", json.dumps(self.agg.snapshot(time.time())).encode()

    async def _refresh(self) -> None:
        nc, consumer = self.nc, self.consumer
        connected = bool(nc and nc.is_connected)
        self.health.checks["nats"] = Check(
            ok=connected, severity="critical", details={"connected": connected}
        )
        if consumer is not None:
            self.health.checks["consumer"] = Check(
                ok=time.monotonic() - consumer.last_activity < 30,
                details={
                    "lag": consumer.pending,
                    "handled": consumer.handled,
                    "seeded": self.seeded,
                    "last_error": consumer.last_error,
                },
            )
        summary = summarize(signals(self.agg, time.time(), self.config.thresholds()))
        self.health.extra["signals"] = summary
        self.health.checks["signals"] = Check(
            ok=summary["status"] in ("OK", "UNKNOWN"),
            severity="critical" if summary["status"] == "CRIT" else "warning",
            details={"status": summary["status"], "message": summary["message"]},
        )

    # -- lifecycle --------------------------------------------------------------------------
    async def run(self, *, install_signals: bool = True, ready: asyncio.Event | None = None) -> int:
        cfg = self.config
        if install_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop)
        self.http = await HealthServer(
            self.health,
            cfg.http_host,
            cfg.http_port,
            extra={"/metrics": self._metrics, "/metrics.json": self._metrics_json},
        ).start()
        log.info("metrics on http://%s:%d/metrics", cfg.http_host, self.http.port)
        try:
            self.nc = await nats.connect(
                cfg.nats_url,
                name="tradewire-metrics",
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
            )
            await ensure_events_stream(self.nc, self.subjects)
            self.seeded = await self.seed()
            settings = ConsumerSettings(
                stream=self.subjects.events_stream,
                durable=cfg.durable,
                filter_subject=self.subjects.events_wildcard,
                max_batch=cfg.max_batch,
                request_size=min(1000, cfg.max_batch),
                max_wait_s=cfg.max_wait_s,
                ack_wait_s=cfg.ack_wait_s,
                max_ack_pending=max(20_000, cfg.max_batch * 4),
                deliver_new=True,
            )
            self.consumer = PullConsumer(self.nc, settings, self.handle)
            await self.consumer.ensure()
            self.health.ready, self.health.reason = True, "consuming"
            if ready is not None:
                ready.set()
            task = asyncio.create_task(self.consumer.run())
            await self._stop.wait()
            self.health.ready, self.health.reason = False, "shutdown"
            self.consumer.stop()
            await task
        finally:
            if self.nc is not None:
                await self.nc.drain()
            await self.http.close()
        return 0

    def stop(self) -> None:
        self._stop.set()
