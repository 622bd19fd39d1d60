"""The lifecycle every consumer service shares, so each service writes only its own parts.

``run()``: the SIGTERM/SIGINT handlers first (nothing before them can block), then the
health server (``/live`` and ``/ready`` answer while NATS is still being reached), NATS
(retried for ever with capped backoff, one log line per try), ``setup()``, the durable
consumers, ready. ``/ready`` is 503 whenever NATS is disconnected, 200 again once it
is back.

Supervision: a pull loop or a task started with :meth:`ConsumerService.spawn` that
ends while the service runs (an exception escaped it), a NATS connection the server
closed for good, or a failing start makes the service not live and not ready, with
the reason in ``/ready`` and ``/health``; it stops and ``run()`` returns 1.

Stop (a signal or ``stop()``), in any state: while starting (connecting, setting up),
the start is abandoned. While consuming: not ready; the consumers finish the batch in
hand, work then acks (up to ``CONSUMERS_S``); ``teardown()`` (up to ``TEARDOWN_S`` plus
what the consumers left of theirs);
NATS drained (up to ``NATS_S``); ``close()``. What does not finish in time is
cancelled: its messages were not acked and come back. ``run()`` returns 0.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import time
from collections.abc import Awaitable, Coroutine, Sequence
from dataclasses import replace
from typing import Any, Protocol

import nats.errors
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from tradewire.publisher import NatsAuth, ensure_events_stream, stream_partitions
from tradewire.schemas import Subjects

from ._config import ConfigError
from ._connection import NatsLink, describe, redact_url
from ._delivery import Delivery
from ._families import Registry, exposition
from ._group import ConsumerGroup
from ._health import Check, Health, HealthServer, Route
from ._partition import Partition
from ._pipeline import PipelineMetrics
from ._pull import Acks, BatchHandler, ConsumerSettings, PullConsumer
from ._web import load_web_config

__all__ = ["OPENMETRICS", "TEXT", "ConsumerService", "ServiceConfig"]

log = logging.getLogger("tradewire.consumers.service")

TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
# Shutdown budget, seconds per step: consumers and teardown share 3 s (see _shut_down),
# cancelled tasks get 1 s and NATS 1 s: at most 4.5 s in all, inside the 5 s an
# orchestrator or an operator's `kill -TERM` is promised.
CONSUMERS_S = 2.0
TEARDOWN_S = 1.0
NATS_S = 1.0
# Failures that are the world's, not the code's: logged as one line, no traceback.
_OPERATIONAL = (OSError, nats.errors.Error, ConfigError)


class ServiceConfig(Protocol):
    """The settings every service config has."""

    nats_url: str
    root: str
    durable: str
    http_host: str
    http_port: int
    max_batch: int
    max_wait_s: float
    ack_wait_s: float
    web_config: str
    partition: int
    partitions: int

    def nats_auth(self) -> NatsAuth: ...

    def instance(self) -> Partition: ...


class ConsumerService:
    """Subclasses set ``name`` and implement ``handle``; the hooks are optional."""

    name = "service"
    deliver_new = False  # see ConsumerSettings.deliver_new

    def __init__(self, config: ServiceConfig) -> None:
        self.service_config = config
        self.subjects = Subjects(config.root)
        # Which bots are this instance's; their stream partitions are learnt at start.
        self.partition = config.instance()
        self.health = Health(refresh=self._refresh, reason="connecting to NATS")
        # This service's own metrics (the metrics service shares its prefix).
        self.registry = Registry(str(getattr(config, "metric_prefix", "tradewire")))
        self.pipeline = PipelineMetrics(self.registry, ready=lambda: self.health.ready)
        # The events stream's consumer; several (a group) for a share of the fleet.
        self.consumer: PullConsumer | ConsumerGroup | None = None
        self._handling = asyncio.Lock()
        self.consumers: list[PullConsumer] = []
        self.http: HealthServer | None = None
        self.link: NatsLink | None = None
        self.nc: Client | None = None
        # What made the service stop on its own (run() then returns 1).
        self.failure: BaseException | None = None
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._consuming = False
        self._stopping = False
        self._set_up = False

    # -- hooks ------------------------------------------------------------------------------
    async def handle(self, batch: Sequence[Delivery]) -> Acks:  # pragma: no cover - abstract
        raise NotImplementedError

    def routes(self) -> dict[str, Route]:
        """HTTP routes besides /live, /ready and /health; extend, keeping ``/metrics``."""
        return {"/metrics": self._metrics}

    def registries(self) -> list[Registry]:
        """What ``/metrics`` shows, in order."""
        return [self.registry]

    async def before_scrape(self) -> None:
        """Bring scrape-time values up to date just before ``/metrics`` renders."""

    async def prepare_streams(self) -> None:
        """Connected to NATS; before this instance learns the events stream's partitions
        (the store sets them here)."""

    async def setup(self) -> None:
        """Connected to NATS, this instance's partitions known, not consuming yet."""

    async def teardown(self) -> None:
        """The consumer has stopped; NATS is still connected."""

    async def close(self) -> None:
        """NATS is drained; release local resources."""

    async def refresh(self) -> None:
        """Update ``self.health`` checks just before ``/health`` answers."""

    def side_consumers(self) -> list[tuple[ConsumerSettings, BatchHandler]]:
        """Further durable consumers (e.g. the store's on the alerts stream), run and
        stopped with the main one; called after ``setup()``."""
        return []

    # -- lifecycle ----------------------------------------------------------------------------
    async def run(self, *, install_signals: bool = True, ready: asyncio.Event | None = None) -> int:
        """Serve until stopped: 0 after a stop, 1 if the service failed, 2 if its settings
        cannot work (e.g. a NATS URL with a bad port); see the module doc."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM) if install_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            cfg = self.service_config
            web = load_web_config(cfg.web_config) if cfg.web_config else None
            self.http = await HealthServer(
                self.health, cfg.http_host, cfg.http_port, extra=self.routes(), web=web
            ).start()
            log.info(
                "%s: %s://%s:%d/ serves %s",
                self.name,
                web.scheme if web else "http",
                cfg.http_host,
                self.http.port,
                " ".join(sorted(self.http.routes)),
            )
            if not (web and web.authenticates) and not _loopback(cfg.http_host):
                log.warning(
                    "%s: %s is reachable beyond this host and asks for no credentials: "
                    "set web_config (basic auth, TLS) or bind to 127.0.0.1",
                    self.name,
                    cfg.http_host or "every interface",
                )
            self.link = NatsLink(
                cfg.nats_url,
                self.name,
                on_change=self._update_ready,
                on_fatal=self._fail,
                auth=cfg.nats_auth(),
            )
            self.pipeline.link = self.link
            self.nc = self.link.client
            try:
                await self._serve(ready)
            finally:
                await _bounded(self.link.close(), NATS_S, f"{self.name}: closing NATS")
                await self.close()
                await self.http.close()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
        if self.failure is not None:
            return 2 if isinstance(self.failure, ConfigError) else 1
        log.info("%s: stopped", self.name)
        return 0

    async def start(self, timeout: float = 30.0) -> asyncio.Task[int]:
        """Run in a task (no signal handlers) and return it once consuming; if ``run``
        fails first, its error is raised here instead of waiting out ``timeout``."""
        ready = asyncio.Event()
        task = asyncio.create_task(self.run(install_signals=False, ready=ready))
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()  # raises what run() raised
            if self.failure is not None:
                raise self.failure
            raise RuntimeError(f"{self.name} stopped before it was ready")
        if not ready.is_set():
            self.stop()
            await task
            raise TimeoutError(f"{self.name} not ready within {timeout:g}s")
        return task

    def stop(self) -> None:
        self._stop.set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a supervised task: if it ends before the service stops (an
        exception, or it returned), the service fails. Cancelled at shutdown."""
        task = asyncio.create_task(coro, name=f"{self.name} {name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    # -- inside run() -------------------------------------------------------------------------
    async def _serve(self, ready: asyncio.Event | None) -> None:
        starting = asyncio.create_task(self._start_up(), name=f"{self.name} start")
        stopped = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                log.info("%s: stopping while %s", self.name, self.health.reason)
                await _bounded(_cancel(starting), CONSUMERS_S, f"{self.name}: abandoning start")
                return
            if (exc := starting.exception()) is not None:
                self._fail(f"start failed: {describe(exc)}", exc)
                return
            self._consuming = True
            self._update_ready()
            log.info("%s: consuming", self.name)
            if ready is not None:
                ready.set()
            await stopped
        finally:
            stopped.cancel()
            self._stopping, self._consuming = True, False
            self.health.ready = False
            if self.failure is None:
                self.health.reason = "shutdown"
            await self._shut_down()

    async def _start_up(self) -> None:
        assert self.link is not None
        cfg = self.service_config
        self.nc = await self.link.connect()
        await self.prepare_streams()
        if self.partition.partitioned:
            await self._find_partitions()
        await self.setup()
        self._set_up = True
        settings = ConsumerSettings(
            stream=self.subjects.events_stream,
            durable=cfg.durable,
            filter_subject=self.subjects.events_wildcard,
            max_batch=cfg.max_batch,
            request_size=min(1000, cfg.max_batch),
            max_wait_s=cfg.max_wait_s,
            ack_wait_s=cfg.ack_wait_s,
            max_ack_pending=max(20_000, cfg.max_batch * 4),
            deliver_new=self.deliver_new,
        )
        events = [
            PullConsumer(
                self.nc,
                replace(
                    settings,
                    durable=cfg.durable + suffix,
                    filter_subject=filters[0],
                    filter_subjects=tuple(filters) if len(filters) > 1 else (),
                ),
                self._handle_own,
            )
            for suffix, filters in self.partition.consumers(self.subjects)
        ]
        self.consumer = events[0] if len(events) == 1 else ConsumerGroup(events)
        consumers = [*events]
        consumers += [PullConsumer(self.nc, s, h) for s, h in self.side_consumers()]
        for consumer in consumers:
            await consumer.ensure()
        for consumer in consumers:
            self.consumers.append(consumer)
            self.pipeline.add_consumer(consumer)
            self.spawn(consumer.run(), f"consumer {consumer.settings.durable}")

    async def _find_partitions(self) -> None:
        """The events stream's partitions, which this instance takes its share of."""
        assert self.nc is not None
        events = self.subjects.events_stream
        try:
            info = await self.nc.jetstream().stream_info(events)
        except NotFoundError:
            info = await ensure_events_stream(self.nc, self.subjects)
        slots = stream_partitions(info.config)
        if not slots:
            raise ConfigError(
                f"partitions {self.partition.count}: {events} is not split into partitions; "
                "set stream_partitions on the store (or `tradewire stream set --partitions "
                "12`) and start this instance again (docs/scaling.md)"
            )
        self.partition = Partition(self.partition.index, self.partition.count, slots)
        self.health.extra["partition"] = {
            "index": self.partition.index,
            "count": self.partition.count,
            "stream_partitions": slots,
        }
        log.info(
            "%s: partition %s (stream partitions %s of %d)",
            self.name,
            self.partition.label,
            ",".join(str(s) for s in range(slots) if self.partition.owns_slot(s)),
            slots,
        )

    async def _handle_own(self, batch: Sequence[Delivery]) -> Acks:
        """``handle`` this instance's events; another instance's (stored before the stream
        was split, so every instance gets them) are acked untouched."""
        mine, others = self.partition.split(batch, self.subjects)
        async with self._handling:  # one batch at a time, whichever consumer it came from
            verdict = await self.handle(mine) if mine else Acks()
        verdict.ack += others
        return verdict

    def parse_subject(self, subject: str) -> tuple[str, str]:
        """``(bot, kind)`` of a delivered event's subject; raises EventError (bad_subject)
        also for a partition token that is not the bot's."""
        return self.partition.check_subject(self.subjects, subject)

    async def _shut_down(self) -> None:
        # Consumers and teardown share one budget: what the batches in hand leave is the
        # teardown's (an alerts service saves thousands of keys there), never under half
        # its own step, so the whole stop stays inside the 5 s promised.
        deadline = time.monotonic() + CONSUMERS_S + TEARDOWN_S
        pulling = [t for t in self._tasks if t.get_name().startswith(f"{self.name} consumer ")]
        for consumer in self.consumers:
            consumer.stop()
        if pulling:  # batches in hand are finished: work, then acks
            await _bounded(
                asyncio.gather(*pulling, return_exceptions=True),
                CONSUMERS_S,
                f"{self.name}: finishing the batches in hand",
            )
        others = list(self._tasks)
        for task in others:
            task.cancel()
        if others:
            await asyncio.wait(others, timeout=1.0)
        if self._set_up:
            budget = max(TEARDOWN_S / 2, deadline - time.monotonic())
            await _bounded(self.teardown(), budget, f"{self.name}: teardown")

    # -- supervision and readiness ------------------------------------------------------------
    def _on_signal(self, sig: int) -> None:
        log.info("%s: %s, stopping", self.name, signal.Signals(sig).name)
        self.stop()

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # retrieved either way: no "never retrieved" warning
        if self._stopping:
            return
        what = task.get_name().removeprefix(f"{self.name} ")
        self._fail(f"{what} failed: {describe(exc)}" if exc else f"{what} ended", exc)

    def _fail(self, reason: str, exc: BaseException | None = None) -> None:
        """The service cannot go on: not live, not ready, stop; run() returns 1."""
        if self.failure is None:
            self.failure = exc or RuntimeError(reason)
            if exc is None or isinstance(exc, _OPERATIONAL):
                log.error("%s: %s; stopping", self.name, reason)
            else:  # a bug: the traceback is what its fixer needs
                log.error("%s: %s; stopping", self.name, reason, exc_info=exc)
            self.health.live, self.health.ready, self.health.reason = False, False, reason
        self.stop()

    def _update_ready(self) -> None:
        """Ready while consuming with NATS connected; the reason says what is missing."""
        h, link = self.health, self.link
        if self.failure is not None or self._stopping or link is None:
            return
        connected = link.connected
        if self._consuming:
            h.ready = connected
            h.reason = "consuming" if connected else "NATS disconnected, reconnecting"
        else:
            h.ready = False
            h.reason = "setting up" if connected else "connecting to NATS"
        if not connected and link.last_error:
            h.reason += f" (last error: {link.last_error})"

    async def _refresh(self) -> None:
        link = self.link
        connected = bool(link and link.connected)
        details: dict[str, Any] = {
            "url": redact_url(self.service_config.nats_url),
            "connected": connected,
            "reconnects": link.reconnects if link else 0,
            "last_error": link.last_error if link else "",
        }
        if link is not None and link.down_since is not None:
            details["down_for_s"] = round(time.monotonic() - link.down_since, 1)
        self.health.checks["nats"] = Check(ok=connected, severity="critical", details=details)
        await self.refresh()

    async def _metrics(self, headers: dict[str, str]) -> tuple[int, str, bytes]:
        """Values are copied here, on the loop; formatting them runs in a worker thread."""
        await self.before_scrape()
        om = "application/openmetrics-text" in headers.get("accept", "")
        now = time.time()
        frozen = [f for r in self.registries() for f in r.snapshot(now)]
        body = await asyncio.to_thread(lambda: exposition(frozen, openmetrics=om).encode())
        return 200, OPENMETRICS if om else TEXT, body


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _bounded(aw: Awaitable[Any], seconds: float, what: str) -> None:
    """Await ``aw`` for up to ``seconds``; past that, cancel it and go on (logged)."""
    task = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        log.warning("%s: not done after %.1f s, going on without it", what, seconds)
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
        if task.done() and not task.cancelled():
            task.exception()  # a cancelled gather ends with CancelledError set: read it
        return
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("%s failed: %s", what, describe(exc))
