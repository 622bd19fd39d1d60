"""Which bots one instance of a service owns, when N instances share the fleet.

The events stream is split into ``slots`` partitions by the server itself: its subject
mapping ``partition(slots, 1)`` appends FNV-1a(bot) mod ``slots`` to every event's
subject (``<root>.evt.<bot>.<kind>.<p>``, see ``tradewire.publisher``'s
``partition_transform``). Instance ``index`` of ``count`` owns the stream partitions p
with p mod ``count`` = ``index``, and consumes exactly those with filter subjects, so
the server sends each instance only its bots' events. The bot -> partition function is
computed here too (the same FNV-1a), for what is keyed by bot outside the stream: the
alerts state in its bucket, the firing alerts the metrics service exports, the alert
changes the store keeps, and a query routed to the store that holds one bot.

Why the stream's partitions and not ``count`` directly: the partition count is fixed
once the stream carries it, while a service may run 2 instances today and 3 tomorrow
(and the store 4 while the alerts run 1); 12 partitions divide evenly among 1, 2, 3,
4, 6 or 12 instances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tradewire.schemas import EventError, Subjects

from ._config import ConfigError, SecuritySettings
from ._delivery import Delivery

__all__ = ["MAX_INSTANCES", "Partition", "ServiceSettings", "fnv1a_32", "slot_of"]

MAX_INSTANCES = 1024  # no more than the events stream's partitions can be
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv1a_32(data: bytes) -> int:
    """The 32-bit FNV-1a hash, as nats-server's ``partition()`` mapping computes it."""
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def slot_of(bot: str, slots: int) -> int:
    """The events stream's partition of ``bot``: what the server appends to its subjects."""
    return fnv1a_32(bot.encode()) % slots


@dataclass(frozen=True)
class Partition:
    """Instance ``index`` of ``count``; ``slots``: the events stream's partitions (known
    once connected; 0 before, or when the stream is not split)."""

    index: int = 0
    count: int = 1
    slots: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_INSTANCES:
            raise ConfigError(f"partitions must be 1 to {MAX_INSTANCES}, not {self.count}")
        if not 0 <= self.index < self.count:
            raise ConfigError(
                f"partition {self.index} out of range: with partitions {self.count} it is "
                f"0 to {self.count - 1}"
            )
        if self.partitioned and self.slots and self.count > self.slots:
            raise ConfigError(
                f"partitions {self.count} is more than the events stream's {self.slots}: "
                "some instances would own nothing"
            )

    @property
    def partitioned(self) -> bool:
        return self.count > 1

    @property
    def label(self) -> str:
        """``1/3`` for logs and /health."""
        return f"{self.index}/{self.count}"

    def suffix(self) -> str:
        """What names of per-instance things (durables, files) end with: ``-p1of3``."""
        return f"-p{self.index}of{self.count}" if self.partitioned else ""

    def owns_slot(self, slot: int) -> bool:
        return slot % self.count == self.index

    def owns(self, bot: str) -> bool:
        """Whether ``bot``'s state lives in this instance."""
        return not self.partitioned or self.owns_slot(slot_of(bot, self.slots))

    def filter_subjects(self, subjects: Subjects) -> list[str]:
        """What this instance consumes of the events stream: every filter of
        :meth:`consumers`."""
        return [f for _, filters in self.consumers(subjects) for f in filters]

    def consumers(self, subjects: Subjects) -> list[tuple[str, list[str]]]:
        """``(durable suffix, filter subjects)`` of each consumer this instance reads the
        events stream with.

        One per stream partition it owns, each with the partition's single filter:
        nats-server serves one consumer with several wildcard filters far slower, the
        more so the more subjects (bots x kinds) the stream holds (~30x at 1,000 bots,
        docs/scaling.md), and a single filter at full speed. One more, suffix ``""``, for
        events stored before the stream was split (no partition token: every instance
        gets them and keeps its own bots') and, on instance 0 only, subjects of another
        shape, which no partition matches, so the store quarantines them.
        """
        if not self.partitioned:
            return [("", [subjects.events_wildcard])]
        evt = subjects.events_wildcard.removesuffix(">")
        mine = [(f"-s{s}", [f"{evt}*.*.{s}"]) for s in range(self.slots) if self.owns_slot(s)]
        strays = [f"{evt}*", f"{evt}*.*.*.>"] if self.index == 0 else []
        return [*mine, ("", [f"{evt}*.*", *strays])]

    def split(
        self, batch: Sequence[Delivery], subjects: Subjects
    ) -> tuple[list[Delivery], list[Delivery]]:
        """(this instance's, another's) deliveries: only events from before the stream was
        split can be another's (the filter subjects leave out the rest)."""
        if not self.partitioned:
            return list(batch), []
        mine: list[Delivery] = []
        others: list[Delivery] = []
        for d in batch:
            try:
                bot, _, slot = subjects.parse_stored_event(d.subject)
            except EventError:
                mine.append(d)  # a stray: quarantined (store) or skipped
                continue
            (mine if slot is not None or self.owns(bot) else others).append(d)
        return mine, others

    def check_subject(self, subjects: Subjects, subject: str) -> tuple[str, str]:
        """``(bot, kind)``; raise EventError for a partition token that is not the bot's
        (published that way on purpose: it would put the bot's state in two instances)."""
        bot, kind, slot = subjects.parse_stored_event(subject)
        if self.partitioned and slot is not None and slot != slot_of(bot, self.slots):
            raise EventError(
                "bad_subject",
                f"{subject!r}: partition {slot} is not bot {bot}'s ({slot_of(bot, self.slots)})",
            )
        return bot, kind


class ServiceSettings(SecuritySettings, kw_only=True):
    """What every consumer service's settings have besides its credential: which share of
    the fleet this instance owns, when N instances of the service run (docs/scaling.md)."""

    partition: int = 0  # this instance's index, 0 to partitions - 1
    partitions: int = 1  # instances of this service sharing the fleet by bot

    def instance(self) -> Partition:
        """This instance's partition (raises ConfigError for an index out of range)."""
        return Partition(self.partition, self.partitions)
