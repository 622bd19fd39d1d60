"""Metric families kept in plain dicts: the values one aggregation holds.

prometheus_client takes a lock per update (0.7-4.3 µs here) and 11-15 µs per
sample line to render; a dict update is well under a microsecond. Histograms
store per-bucket counts and are made cumulative when rendered, so ``_bucket``
is monotonic and the ``+Inf`` bucket always equals ``_count``. Names, label
names and exposition live elsewhere (``_catalog``, ``_profiles``, ``_exposition``).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["DEFAULT_BUCKETS", "MAX_COUNT", "Family", "Histogram", "Kind", "Labels", "count"]

Kind = Literal["counter", "gauge", "histogram"]
Labels = tuple[str, ...]
# Largest count reported: integers from bots are unbounded on the wire (a seq of 10**400
# decodes), and float() of a larger one raises OverflowError.
MAX_COUNT = 2**53


def count(n: int) -> float:
    """An integer a bot sent, as a metric value (capped at ``MAX_COUNT``)."""
    return float(min(n, MAX_COUNT))


# GPT-Trader's default buckets (seconds).
DEFAULT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    __slots__ = ("buckets", "count", "counts", "sum")

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.count += 1
        self.sum += value

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s observations (same buckets): a sum over dropped labels."""
        counts = self.counts
        for i, c in enumerate(other.counts):
            counts[i] += c
        self.count += other.count
        self.sum += other.sum

    def cumulative(self) -> list[int]:
        out, total = [], 0
        for c in self.counts:
            total += c
            out.append(total)
        return out


@dataclass
class Family:
    """One catalog metric: its type, label names, help, and where its values come from.

    Every family whose first label is ``bot`` holds per-bot series; ``forget_bot``
    removes them.
    """

    name: str
    kind: Kind
    labels: Labels
    help: str
    source: str  # the event kind and field, or "scrape time: ..."
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    values: dict[Labels, float] = field(default_factory=dict)
    hists: dict[Labels, Histogram] = field(default_factory=dict)
    # For values computed when scraped (ages): now -> samples.
    computed: Callable[[float], Iterable[tuple[Labels, float]]] | None = None

    def inc(self, labels: Labels, amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def set(self, labels: Labels, value: float) -> None:
        self.values[labels] = value

    def observe(self, labels: Labels, value: float) -> None:
        h = self.hists.get(labels)
        if h is None:
            h = self.hists[labels] = Histogram(self.buckets)
        h.observe(value)

    def drop_bot(self, bot: str, keep: Callable[[Labels], bool] | None = None) -> None:
        """Forget a bot's series (e.g. positions that closed), optionally keeping some."""
        for key in [k for k in self.values if k[0] == bot and not (keep and keep(k))]:
            del self.values[key]

    def forget_bot(self, bot: str) -> None:
        """Forget every series of ``bot``, histograms included."""
        if not self.labels or self.labels[0] != "bot":
            return
        self.drop_bot(bot)
        for key in [k for k in self.hists if k[0] == bot]:
            del self.hists[key]

    def samples(self, now: float) -> Iterable[tuple[Labels, float]]:
        if self.computed is not None:
            return self.computed(now)
        return self.values.items()
