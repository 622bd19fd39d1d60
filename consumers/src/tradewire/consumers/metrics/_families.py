"""The families one aggregation holds: the runtime's plain-dict families, plus the cap on
the integers bots send.

prometheus_client takes a lock per update (0.7-4.3 µs here); a dict update is well under
a microsecond. Names, label names and exposition live elsewhere (``_catalog``,
``_profiles``, ``_exposition``).
"""

from __future__ import annotations

from tradewire.consumers.runtime._families import (
    DEFAULT_BUCKETS,
    Family,
    Histogram,
    Kind,
    Labels,
)

__all__ = ["DEFAULT_BUCKETS", "MAX_COUNT", "Family", "Histogram", "Kind", "Labels", "count"]

# Largest count reported: integers from bots are unbounded on the wire (a seq of 10**400
# decodes), and float() of a larger one raises OverflowError.
MAX_COUNT = 2**53


def count(n: int) -> float:
    """An integer a bot sent, as a metric value (capped at ``MAX_COUNT``)."""
    return float(min(n, MAX_COUNT))
