"""A thread-backed facade for bots that do not run asyncio."""

from __future__ import annotations

import asyncio
import atexit
import threading
from concurrent.futures import Future
from typing import Any, TypeVar

from tradewire.schemas import Envelope

from ._config import PublisherConfig
from ._emitter import Emitter
from ._publisher import Publisher
from ._stats import PublisherStats

__all__ = ["SyncPublisher"]

E = TypeVar("E", bound=Envelope)


class SyncPublisher(Emitter):
    """Same as :class:`Publisher`, delivering from its own thread and event loop.

    ``emit`` costs the calling thread the same as the async publisher's. At
    interpreter exit an unclosed publisher is closed, so un-acked events land
    in the outbox instead of vanishing with the thread.
    """

    def __init__(self, bot: str, config: PublisherConfig | None = None, **overrides: Any):
        self._publisher = Publisher(bot, config, **overrides)
        self._stamper = self._publisher._stamper
        self._loop = asyncio.new_event_loop()
        started: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._main, args=(started,), name=f"tradewire-{bot}", daemon=True
        )
        self._thread.start()
        started.result()  # re-raises a start failure (e.g. a locked outbox) here
        self._closed = False
        atexit.register(self.close)

    @property
    def publisher(self) -> Publisher:
        return self._publisher

    def _main(self, started: Future[None]) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._publisher.start())
        except BaseException as exc:
            started.set_exception(exc)
            self._loop.close()
            return
        started.set_result(None)
        self._loop.run_forever()
        self._loop.close()

    def emit(self, event: E) -> E:
        return self._publisher.emit(event)

    def stats(self) -> PublisherStats:
        return self._publisher.stats()

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until everything emitted so far is acked, or ``timeout`` passes."""
        return asyncio.run_coroutine_threadsafe(self._publisher.flush(timeout), self._loop).result()

    def close(self, timeout: float = 5.0) -> PublisherStats:
        """Flush, leave the rest in the outbox, stop the thread."""
        if self._closed:
            return self.stats()
        self._closed = True
        atexit.unregister(self.close)
        stats = asyncio.run_coroutine_threadsafe(
            self._publisher.close(timeout), self._loop
        ).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        return stats

    def __enter__(self) -> SyncPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
