"""``tradewire serve metrics``: the fleet's events as Prometheus metrics, live."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence

from tradewire.consumers.alerts import ALERT_PREFIX, AlertRecord
from tradewire.consumers.fleet import Retired
from tradewire.consumers.runtime import (
    Acks,
    Check,
    ConsumerService,
    Delivery,
    KeyWatch,
    Route,
    read_history,
)
from tradewire.publisher import ensure_events_stream
from tradewire.schemas import Event, EventError, decode

from ._aggregator import Aggregator, Limits, Window
from ._config import MetricsConfig
from ._signals import signals, summarize

__all__ = ["MetricsService"]

log = logging.getLogger("tradewire.metrics")
TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class MetricsService(ConsumerService):
    name = "metrics"
    deliver_new = True  # never replay history into counters

    def __init__(self, config: MetricsConfig) -> None:
        super().__init__(config)
        self.config = config
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
        self.seeded = 0
        # The alerts firing now, pushed from the alerts service's bucket.
        self.alerts: KeyWatch[AlertRecord] = KeyWatch(ALERT_PREFIX, AlertRecord)
        self.retired = Retired("metrics", lambda bot, at: self.agg.forget_bot(bot))

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
            if self.retired.admits(event.bot, event.ts):
                agg.apply(event, now)
        if batch:
            agg.lag.set((), float(batch[-1].pending))
        return Acks(ack=list(batch))

    async def seed(self) -> int:
        """Set gauges from the last message of every subject (bot and kind) in the stream."""
        assert self.nc is not None
        return await read_history(
            self.nc,
            self.subjects,
            lambda ev: self.retired.admits(ev.bot, ev.ts) and self.agg.apply(ev, seed=True),
        )

    # -- HTTP -------------------------------------------------------------------------------
    async def _metrics(self, headers: dict[str, str]) -> tuple[int, str, bytes]:
        self.agg.set_alerts([r.firing for r in self.alerts.values.values() if r.firing])
        om = "application/openmetrics-text" in headers.get("accept", "")
        text = self.agg.registry.render(time.time(), openmetrics=om)
        return 200, OPENMETRICS if om else TEXT, text.encode()

    async def _metrics_json(self, headers: dict[str, str]) -> tuple[int, str, bytes]:
        return 200, "application/json", json.dumps(self.agg.snapshot(time.time())).encode()

    async def refresh(self) -> None:
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
    def routes(self) -> dict[str, Route]:
        return {"/metrics": self._metrics, "/metrics.json": self._metrics_json}

    async def setup(self) -> None:
        assert self.nc is not None
        await ensure_events_stream(self.nc, self.subjects)
        js = self.nc.jetstream()
        await self.alerts.attach(js, self.config.alerts_bucket)
        await self.retired.attach(js, self.subjects.fleet_bucket)
        self.seeded = await self.seed()

    async def teardown(self) -> None:
        await self.alerts.stop()
        await self.retired.stop()
