"""``tradewire serve metrics``: the fleet's events as Prometheus metrics, live."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence

from tradewire.consumers.alerts import ALERT_PREFIX, AlertRecord
from tradewire.consumers.console import Console, History
from tradewire.consumers.fleet import Retired
from tradewire.consumers.runtime import (
    OPENMETRICS,
    TEXT,
    Acks,
    Check,
    ConsumerService,
    Delivery,
    KeyWatch,
    Route,
    exposition,
    read_history,
)
from tradewire.publisher import ensure_events_stream
from tradewire.schemas import AlertChange, Event, EventError, decode

from ._aggregator import Aggregator, Limits, Window
from ._config import MetricsConfig
from ._exposition import Exposition
from ._signals import signals, summarize
from ._snapshot import snapshot

__all__ = ["MetricsService"]

log = logging.getLogger("tradewire.metrics")


class MetricsService(ConsumerService):
    name = "metrics"
    deliver_new = True  # never replay history into counters

    def __init__(self, config: MetricsConfig) -> None:
        super().__init__(config)
        self.config = config
        self.agg = Aggregator(
            Limits(
                max_label_values=config.max_label_values,
                max_bots=config.max_bots,
                bot_down_after_s=config.bot_down_after_s,
                ws_stale_after_s=config.ws_stale_after_s,
                ws_heartbeat_stale_after_s=config.ws_heartbeat_stale_after_s,
                unfilled_order_after_s=config.unfilled_order_after_s,
            ),
            Window(config.signal_window_s),
        )
        # One aggregation, shown under every configured naming profile.
        self.profiles = config.profile_set()
        self.exposition = Exposition(self.agg, self.profiles)
        self.seeded = 0
        # The alerts firing now, pushed from the alerts service's bucket.
        self.alerts: KeyWatch[AlertRecord] = KeyWatch(ALERT_PREFIX, AlertRecord)
        self.retired = Retired("metrics", lambda bot, at: self.agg.forget_bot(bot))
        # The console at `/`: its charts' recent past, filled as events are folded in.
        self.history = History(
            points=config.console_history_points, step_s=config.console_history_step_s
        )
        self.console = Console(
            self.agg,
            self.history,
            firing=self.firing_alerts,
            nats=lambda: self.nc,
            alerts_bucket=config.alerts_bucket,
            bot_down_after_s=config.bot_down_after_s,
            reports_dir=config.reports_dir,
            silences=config.console_silences,
        )

    # -- events ---------------------------------------------------------------------------
    def _decode(self, d: Delivery) -> Event:
        bot, kind = self.parse_subject(d.subject)
        return decode(
            d.data,
            expect_bot=bot,
            expect_kind=kind,
            received_at=d.received_ns / 1e9,
            max_future_s=self.config.max_future_s,
        )

    async def handle(self, batch: Sequence[Delivery]) -> Acks:
        """Aggregate a batch. Metrics live in memory, so acking at once loses nothing
        that a restart would not reset anyway (counters restart at zero)."""
        now = time.time()
        agg = self.agg
        for d in batch:
            try:
                event = self._decode(d)
            except EventError as exc:
                agg.families["pipeline_quarantined_total"].inc((exc.reason,))
                continue
            if not self.retired.admits(event.bot, event.ts):
                continue  # from before the bot was retired
            try:
                if agg.apply(event, now, redelivered=d.num_delivered > 1):
                    self.history.observe(event, now)
            except Exception:  # a bug here must not fail the batch, and so every bot's
                log.exception("aggregating the event at stream seq %d failed", d.stream_seq)
                agg.families["pipeline_quarantined_total"].inc(("aggregation_failed",))
        agg.tick(now)
        return Acks(ack=list(batch))

    async def seed(self) -> int:
        """Set gauges from the last message of every subject (bot and kind) in the stream."""
        assert self.nc is not None
        now = time.time()

        def seed(ev: Event) -> bool:
            if not self.retired.admits(ev.bot, ev.ts) or not self.agg.apply(ev, seed=True):
                return False
            self.history.observe(ev, now)
            return True

        return await read_history(
            self.nc,
            self.subjects,
            seed,
            name=f"{self.config.durable}-history",
            partition=self.partition,
        )

    # -- HTTP -------------------------------------------------------------------------------
    def _firing(self) -> list[AlertChange]:
        """The firing alerts of this instance's bots (each instance exports its own)."""
        own = self.partition.owns
        return [r.firing for r in self.alerts.values.values() if r.firing and own(r.firing.bot)]

    async def firing_alerts(self) -> list[AlertChange]:
        """The alerts firing now, for the console (kept current by the bucket's watch)."""
        return self._firing()

    async def before_scrape(self) -> None:
        self.agg.set_alerts(self._firing())
        self.agg.tick(time.time())

    async def _metrics(
        self, headers: dict[str, str], only: str | None = None
    ) -> tuple[int, str, bytes]:
        """The fleet under each profile (or ``only`` one), then this service's own pipeline
        series; values are copied on the loop and formatted in a worker thread."""
        await self.before_scrape()
        om = "application/openmetrics-text" in headers.get("accept", "")
        now = time.time()
        fleet = self.exposition.freeze(now)
        own = self.registry.snapshot(now) if only is None else []

        def write() -> bytes:
            text = self.exposition.write(fleet, openmetrics=om, only=only)
            if own:  # one exposition: the fleet's EOF marker moves after our own series
                text = text.removesuffix("# EOF\n") + exposition(own, openmetrics=om)
            return text.encode()

        return 200, OPENMETRICS if om else TEXT, await asyncio.to_thread(write)

    def _profile_route(self, name: str) -> Route:
        async def route(headers: dict[str, str]) -> tuple[int, str, bytes]:
            return await self._metrics(headers, name)

        return route

    async def _metrics_json(self, headers: dict[str, str]) -> tuple[int, str, bytes]:
        data = snapshot(self.agg, time.time(), self.config.metric_prefix)
        return 200, "application/json", json.dumps(data).encode()

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
        """``/metrics`` (every configured profile), ``/metrics/<profile>`` (one), JSON,
        and the console (``/``, ``/api/*``, ``/console/*``, ``/reports/*``)."""
        per_profile = {f"/metrics/{p.name}": self._profile_route(p.name) for p in self.profiles}
        return {
            "/metrics": self._metrics,
            **per_profile,
            "/metrics.json": self._metrics_json,
            **self.console.routes(),
        }

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

    async def close(self) -> None:
        await self.console.close()
