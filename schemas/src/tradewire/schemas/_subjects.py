"""Subject, stream and consumer names, derived from one configurable root."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._errors import EventError
from ._kinds import KINDS

__all__ = [
    "DEFAULT_DUPLICATE_WINDOW_S",
    "DEFAULT_MAX_AGE_S",
    "DEFAULT_ROOT",
    "Subjects",
]

DEFAULT_ROOT = "tradewire"
DEFAULT_MAX_AGE_S = 7 * 24 * 3600.0
DEFAULT_DUPLICATE_WINDOW_S = 120.0

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PARTITION = re.compile(r"^(0|[1-9][0-9]{0,3})$")


@dataclass(frozen=True)
class Subjects:
    """Names for one fleet. Several fleets share a NATS by using different roots.

    Every NATS name a component creates (subjects, streams, durable consumers, key-value
    buckets) comes from here, so two roots never touch each other's state.
    """

    root: str = DEFAULT_ROOT
    _evt: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.root or not all(_TOKEN.match(t) for t in self.root.split(".")):
            raise ValueError(
                f"invalid subject root {self.root!r}: dot-separated tokens of [A-Za-z0-9_-]"
            )
        object.__setattr__(self, "_evt", f"{self.root}.evt.")

    @property
    def _stream_prefix(self) -> str:
        return re.sub(r"[.-]", "_", self.root).upper()

    @property
    def events_stream(self) -> str:
        """``TRADEWIRE_EVENTS`` for the default root."""
        return f"{self._stream_prefix}_EVENTS"

    @property
    def alerts_stream(self) -> str:
        """``TRADEWIRE_ALERTS`` for the default root."""
        return f"{self._stream_prefix}_ALERTS"

    @property
    def _name_prefix(self) -> str:
        """The root as one token (``prod.fleet-a`` -> ``prod_fleet-a``): durable and bucket
        names may not contain dots."""
        return self.root.replace(".", "_")

    def durable(self, service: str) -> str:
        """A service's durable consumer: ``tradewire-store`` for the default root."""
        return f"{self._name_prefix}-{service}"

    @property
    def alerts_bucket(self) -> str:
        """The alerts service's key-value bucket (state, firing alerts, silences)."""
        return f"{self._name_prefix}_alerts"

    @property
    def fleet_bucket(self) -> str:
        """``tradewire_fleet``: the KV bucket of fleet membership (retired bots), which
        the services watch."""
        return f"{self._name_prefix}_fleet"

    @property
    def events_wildcard(self) -> str:
        return f"{self.root}.evt.>"

    @property
    def alerts_wildcard(self) -> str:
        return f"{self.root}.alert.>"

    @property
    def sql(self) -> str:
        return f"{self.root}.sql"

    def event(self, bot: str, kind: str) -> str:
        """``<root>.evt.<bot>.<kind>``; ``*`` is allowed for either in a filter."""
        return f"{self._evt}{bot}.{kind}"

    def alert(self, bot: str, rule: str) -> str:
        return f"{self.root}.alert.{bot}.{rule}"

    def parse_event(self, subject: str) -> tuple[str, str]:
        """Return ``(bot, kind)`` of an event subject; raise EventError if it is not one."""
        bot, kind, _ = self.parse_stored_event(subject)
        return bot, kind

    def parse_stored_event(self, subject: str) -> tuple[str, str, int | None]:
        """``(bot, kind, partition)`` of an event subject as the stream stores it: a
        partitioned events stream appends the bot's partition number (docs/scaling.md),
        ``<root>.evt.<bot>.<kind>.<p>``; None for a subject without one."""
        if not subject.startswith(self._evt):
            raise EventError("bad_subject", f"{subject!r} is not under {self._evt}")
        rest = subject[len(self._evt) :].split(".")
        partition = None
        if len(rest) == 3 and _PARTITION.match(rest[2]):
            partition = int(rest.pop())
        if len(rest) != 2 or not _TOKEN.match(rest[0]) or rest[1] not in KINDS:
            raise EventError("bad_subject", f"{subject!r} is not {self._evt}<bot>.<kind>")
        return rest[0], rest[1], partition
