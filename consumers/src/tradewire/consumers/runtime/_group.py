"""Several durable consumers of the events stream read as one, for health and tests.

An instance of a service that shares the fleet reads its stream partitions through one
consumer each (see ``Partition.consumers``); what its health reports (lag, events
handled, when it last heard from the server, its last error) is their sum or latest.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._pull import PullConsumer

__all__ = ["ConsumerGroup"]


class ConsumerGroup:
    """Read-only counts of ``members``, named as on :class:`PullConsumer`."""

    def __init__(self, members: Sequence[PullConsumer]) -> None:
        self.members = list(members)

    @property
    def pending(self) -> int:
        return sum(c.pending for c in self.members)

    @property
    def handled(self) -> int:
        return sum(c.handled for c in self.members)

    @property
    def redelivered(self) -> int:
        return sum(c.redelivered for c in self.members)

    @property
    def last_activity(self) -> float:
        return max(c.last_activity for c in self.members)

    @property
    def last_error(self) -> str:
        latest = max(self.members, key=lambda c: c.last_error_at)
        return latest.last_error
