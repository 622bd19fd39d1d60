"""The lifecycle every consumer service shares, so each service writes only its own parts.

start: signal handlers, the health server, NATS, ``setup()``, the durable consumer,
ready. stop (SIGTERM/SIGINT or ``stop()``): not ready, the consumer finishes the batch
in hand (the handler's work, then its acks), ``teardown()``, drain NATS, ``close()``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from typing import Protocol

import nats
from nats.aio.client import Client

from tradewire.schemas import Subjects

from ._delivery import Delivery
from ._health import Health, HealthServer, Route
from ._pull import Acks, BatchHandler, ConsumerSettings, PullConsumer

__all__ = ["ConsumerService", "ServiceConfig"]

log = logging.getLogger("tradewire.consumers.service")


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


class ConsumerService:
    """Subclasses set ``name`` and implement ``handle``; the hooks are optional."""

    name = "service"
    deliver_new = False  # see ConsumerSettings.deliver_new

    def __init__(self, config: ServiceConfig) -> None:
        self.service_config = config
        self.subjects = Subjects(config.root)
        self.health = Health(refresh=self.refresh)
        self.consumer: PullConsumer | None = None
        self.http: HealthServer | None = None
        self.nc: Client | None = None
        self._stop = asyncio.Event()

    # -- hooks ------------------------------------------------------------------------------
    async def handle(self, batch: Sequence[Delivery]) -> Acks:  # pragma: no cover - abstract
        raise NotImplementedError

    def routes(self) -> dict[str, Route]:
        return {}

    async def setup(self) -> None:
        """Connected to NATS, not consuming yet."""

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
        cfg = self.service_config
        if install_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop)
        self.http = await HealthServer(
            self.health, cfg.http_host, cfg.http_port, extra=self.routes()
        ).start()
        log.info("%s on http://%s:%d/health", self.name, cfg.http_host, self.http.port)
        try:
            self.nc = await nats.connect(
                cfg.nats_url,
                name=f"tradewire-{self.name}",
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
            )
            await self.setup()
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
            self.consumer = PullConsumer(self.nc, settings, self.handle)
            consumers = [self.consumer]
            consumers += [PullConsumer(self.nc, s, h) for s, h in self.side_consumers()]
            for consumer in consumers:
                await consumer.ensure()
            self.health.ready, self.health.reason = True, "consuming"
            if ready is not None:
                ready.set()
            tasks = [asyncio.create_task(c.run()) for c in consumers]
            await self._stop.wait()
            self.health.ready, self.health.reason = False, "shutdown"
            for consumer in consumers:
                consumer.stop()
            await asyncio.gather(*tasks)  # batches in hand are finished: work, then acks
            await self.teardown()
        finally:
            if self.nc is not None:
                await self.nc.drain()
            await self.close()
            await self.http.close()
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
            raise RuntimeError(f"{self.name} stopped before it was ready")
        if not ready.is_set():
            self.stop()
            await task
            raise TimeoutError(f"{self.name} not ready within {timeout:g}s")
        return task

    def stop(self) -> None:
        self._stop.set()
