"""``tradewire serve metrics``: the fleet's events as Prometheus metrics, live."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence

import msgspec
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue

from tradewire.consumers.alerts import FIRING_KEY
from tradewire.consumers.runtime import (
    Acks,
    Check,
    ConsumerService,
    Delivery,
    Registry,
    Route,
    read_history,
)
from tradewire.publisher import ensure_events_stream
from tradewire.schemas import AlertChange, Event, EventError, decode

from ._aggregator import Aggregator, Limits, Window
from ._config import MetricsConfig
from ._signals import signals, summarize

__all__ = ["MetricsService"]

log = logging.getLogger("tradewire.metrics")


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
        self._alerts_kv: KeyValue | None = None

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
        return Acks(ack=list(batch))

    async def seed(self) -> int:
        """Set gauges from the last message of every subject (bot and kind) in the stream."""
        assert self.nc is not None
        return await read_history(
            self.nc,
            self.subjects,
            lambda ev: self.agg.apply(ev, seed=True),
            name=f"{self.config.durable}-history",
        )

    # -- HTTP -------------------------------------------------------------------------------
    async def _read_alerts(self) -> None:
        """The alerts firing now, from the alerts service's bucket (absent: none yet)."""
        assert self.nc is not None
        try:
            if self._alerts_kv is None:
                self._alerts_kv = await self.nc.jetstream().key_value(self.config.alerts_bucket)
            entry = await self._alerts_kv.get(FIRING_KEY)
            self.agg.set_alerts(msgspec.json.decode(entry.value or b"[]", type=list[AlertChange]))
        except (BucketNotFoundError, KeyNotFoundError):
            self.agg.set_alerts([])
        except Exception as exc:  # keep the last known set; the scrape must still answer
            log.warning("reading firing alerts failed: %r", exc)

    async def before_scrape(self) -> None:
        if self.nc is not None and self.nc.is_connected:
            await self._read_alerts()

    def registries(self) -> list[Registry]:
        """The fleet's metrics, then this service's own pipeline metrics."""
        return [self.agg.registry, self.registry]

    async def _metrics_json(self, headers: dict[str, str]) -> tuple[int, str, bytes]:
        return 200, "application/json", json.dumps(self.agg.snapshot(time.time())).encode()

    async def refresh(self) -> None:
        consumer = self.consumer
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
        return {**super().routes(), "/metrics.json": self._metrics_json}

    async def setup(self) -> None:
        assert self.nc is not None
        await ensure_events_stream(self.nc, self.subjects)
        self.seeded = await self.seed()
