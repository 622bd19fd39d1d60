"""An in-memory publisher for a bot's own unit tests: no NATS, strict validation."""

from __future__ import annotations

from typing import TypeVar

from tradewire.schemas import DEFAULT_MAX_SIZE, Envelope, validate

from ._emitter import Emitter
from ._stamp import Stamper

__all__ = ["RecordingPublisher"]

E = TypeVar("E", bound=Envelope)
T = TypeVar("T", bound=Envelope)


class RecordingPublisher(Emitter):
    """Keeps every emitted event in ``events``.

    Unlike the real publisher, which counts and logs an invalid event rather
    than disturb the trading loop, this one raises :class:`EventError` at the
    ``emit`` call, so a bot's tests catch a NaN or a bad enum where it is made.
    """

    def __init__(self, bot: str = "test-bot", *, max_event_size: int = DEFAULT_MAX_SIZE) -> None:
        self._stamper = Stamper(bot)
        self._max_size = max_event_size
        self.events: list[Envelope] = []

    def emit(self, event: E) -> E:
        with self._stamper.lock:
            self._stamper.stamp(event)
            validate(event, max_size=self._max_size)
            self.events.append(event)
        return event

    def of_kind(self, kind: type[T]) -> list[T]:
        """The recorded events of one type, in emit order."""
        return [e for e in self.events if isinstance(e, kind)]

    def clear(self) -> None:
        self.events.clear()
