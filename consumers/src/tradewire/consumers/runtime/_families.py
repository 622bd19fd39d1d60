"""Metric families kept in plain dicts and rendered by hand, for every service's ``/metrics``.

prometheus_client takes a lock per update (0.7-4.3 µs here) and 11-15 µs per
sample line to render; a dict update is well under a microsecond and the
renderer below writes a line in about one. Histograms store per-bucket counts
and are made cumulative when rendered, so ``_bucket`` is monotonic and the
``+Inf`` bucket always equals ``_count``.

A scrape has two halves. :meth:`Registry.snapshot` copies the values (C-speed
dict and list copies, on the event loop, where the values change); :func:`exposition`
formats that copy and touches nothing live, so it can run in a worker thread
while the loop goes on pulling, handling and acking.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DEFAULT_BUCKETS",
    "Computed",
    "Family",
    "Frozen",
    "Histogram",
    "Kind",
    "Labels",
    "Registry",
    "escape",
    "exposition",
    "per_label",
    "scalar",
]

Kind = Literal["counter", "gauge", "histogram"]
Labels = tuple[str, ...]
Computed = Callable[[float], Iterable[tuple[Labels, float]]]
# GPT-Trader's default buckets (seconds).
DEFAULT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return repr(float(x))


def _labels(names: Labels, values: Labels, extra: str = "") -> str:
    pairs = [f'{n}="{escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


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

    def copy(self) -> Histogram:
        """A copy that later observations do not change (a scrape's snapshot)."""
        h = Histogram.__new__(Histogram)
        h.buckets, h.counts, h.count, h.sum = self.buckets, self.counts[:], self.count, self.sum
        return h

    def cumulative(self) -> list[int]:
        out, total = [], 0
        for c in self.counts:
            total += c
            out.append(total)
        return out


@dataclass
class Family:
    """One metric name: its type, label names, help, and where its values come from.

    Every family whose first label is ``bot`` holds per-bot series; ``forget_bot``
    removes them.
    """

    name: str
    kind: Kind
    labels: Labels
    help: str
    source: str  # the event kind(s) or "scrape time"
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    values: dict[Labels, float] = field(default_factory=dict)
    hists: dict[Labels, Histogram] = field(default_factory=dict)
    # For values computed when scraped (ages): now -> samples.
    computed: Computed | None = None
    # Rendered label sets, reused across scrapes (building them is most of a scrape).
    rendered: dict[Labels, str] = field(default_factory=dict)

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


def scalar(read: Callable[[], float]) -> Computed:
    """Scrape-time samples of a family without labels: ``read()`` when scraped."""
    return lambda now: [((), float(read()))]


def per_label(read: Callable[[], Mapping[str, float]]) -> Computed:
    """Scrape-time samples of a family with one label: one per key of ``read()``."""
    return lambda now: [((k,), float(v)) for k, v in read().items()]


@dataclass(frozen=True, slots=True)
class Frozen:
    """One family's samples as they were at one instant: what :func:`exposition` formats."""

    family: Family
    name: str
    samples: dict[Labels, float]
    # (labels, per-bucket counts, sum, count) of each histogram series.
    hists: list[tuple[Labels, list[int], float, int]]


class Registry:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.families: dict[str, Family] = {}

    def add(self, family: Family) -> Family:
        if family.name in self.families:
            raise ValueError(f"metric {family.name} defined twice")
        self.families[family.name] = family
        return family

    def full_name(self, family: Family) -> str:
        return f"{self.prefix}_{family.name}" if self.prefix else family.name

    def snapshot(self, now: float) -> list[Frozen]:
        """Copy every value (scrape-time ones computed now); cheap, run where they change."""
        out = []
        for fam in self.families.values():
            if fam.kind == "histogram":
                hists = [(k, h.counts[:], h.sum, h.count) for k, h in list(fam.hists.items())]
                out.append(Frozen(fam, self.full_name(fam), {}, hists))
            elif fam.computed is not None:
                out.append(Frozen(fam, self.full_name(fam), dict(fam.computed(now)), []))
            else:  # one dict copy: no new object per series for the collector to scan
                out.append(Frozen(fam, self.full_name(fam), fam.values.copy(), []))
        return out

    def render(self, now: float, *, openmetrics: bool = False) -> str:
        """Snapshot and format in one go (tests, benchmarks, small registries)."""
        return exposition(self.snapshot(now), openmetrics=openmetrics)


def exposition(frozen: Iterable[Frozen], *, openmetrics: bool = False) -> str:
    """Prometheus text (or OpenMetrics) of snapshots, from one registry or several."""
    out: list[str] = []
    for snap in frozen:
        fam, name = snap.family, snap.name
        base = name[: -len("_total")] if openmetrics and fam.kind == "counter" else name
        out.append(f"# HELP {base} {escape(fam.help)}")
        out.append(f"# TYPE {base} {fam.kind}")
        label_names = fam.labels
        if fam.kind == "histogram":
            bounds = (*fam.buckets, math.inf)
            for key, counts, total, count in snap.hists:
                cumulative = 0
                for le, c in zip(bounds, counts, strict=True):
                    cumulative += c
                    le_pair = 'le="' + _num(le) + '"'
                    out.append(f"{name}_bucket{_labels(label_names, key, le_pair)} {cumulative}")
                out.append(f"{name}_sum{_labels(label_names, key)} {_num(total)}")
                out.append(f"{name}_count{_labels(label_names, key)} {count}")
            continue
        # Rendered label sets are cached across scrapes (building them is most of a
        # scrape); concurrent scrapes may both write an entry, always the same text.
        cache = fam.rendered
        for key, value in snap.samples.items():
            text = cache.get(key)
            if text is None:
                text = cache[key] = name + _labels(label_names, key)
            out.append(f"{text} {_num(value)}")
    if openmetrics:
        out.append("# EOF")
    return "\n".join(out) + "\n"
