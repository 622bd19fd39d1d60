"""``/metrics``: one aggregation written out under each enabled profile's names.

Text format 0.0.4, or OpenMetrics when the scraper asks for it. Rendered label sets
(and each histogram series' bucket prefixes) are cached per name, so a scrape is
mostly string joins: building them was most of a scrape's cost. Profiles that select
or drop labels sum the matching series when scraped.

A scrape has two halves, as in every service (``runtime._families``): :meth:`freeze`
copies the values on the event loop, where events change them; :meth:`write` formats
that copy and touches nothing live, so it runs in a worker thread while the loop goes
on pulling, folding and acking.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from ._aggregator import Aggregator
from ._families import Family, Histogram, Kind, Labels
from ._profiles import Exposure, Profile

__all__ = ["Exposition", "Frozen", "escape"]

_repr = float.__repr__


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(x: float) -> str:
    if x - x == 0.0:  # finite: inf - inf and nan - nan are nan
        return _repr(x) if type(x) is float else _repr(float(x))
    if math.isnan(x):
        return "NaN"
    return "+Inf" if x > 0 else "-Inf"


def _labels(names: Iterable[str], values: Iterable[str], extra: str = "") -> str:
    pairs = [f'{n}="{escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _header(
    name: str, kind: Kind, help: str, openmetrics: bool, taken: frozenset[str] = frozenset()
) -> list[str]:
    """The HELP and TYPE lines of a family whose samples are written under ``name``.

    An OpenMetrics counter is named without its ``_total``; where it has none (seed
    names) or the short name is another family's (``data_quality_issues`` and
    ``data_quality_issues_total``), it is declared ``unknown`` under its full name.
    """
    base, type_ = name, str(kind)
    if openmetrics and kind == "counter":
        short = name[: -len("_total")]
        if name.endswith("_total") and short not in taken:
            base = short
        else:
            type_ = "unknown"
    return [f"# HELP {base} {escape(help)}", f"# TYPE {base} {type_}"]


@dataclass
class _Out:
    """One exposed name: a profile's view of a catalog family."""

    profile: str
    name: str
    family: Family
    help: str
    scale: float = 1.0
    keep: tuple[int, ...] | None = None  # indexes of the labels kept
    where: tuple[tuple[int, frozenset[str]], ...] = ()
    labels: Labels = ()
    texts: dict[Labels, str] = field(default_factory=dict)
    buckets: dict[Labels, tuple[list[str], str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, profile: Profile, e: Exposure, fam: Family) -> _Out:
        index = {n: i for i, n in enumerate(fam.labels)}
        keep = tuple(index[n] for n in e.keep) if e.keep is not None else None
        where = tuple((index[n], frozenset(v)) for n, v in e.where)
        labels = tuple(fam.labels[i] for i in keep) if keep is not None else fam.labels
        return cls(profile.name, e.name, fam, fam.help, e.scale, keep, where, labels)

    def __post_init__(self) -> None:
        keep = self.keep
        if keep is None:
            self._pick: Callable[[Labels], Labels] = lambda key: key
        elif len(keep) == 1:
            i = keep[0]
            self._pick = lambda key: (key[i],)
        else:
            self._pick = itemgetter(*keep)

    def _selected(self, key: Labels) -> Labels | None:
        for i, allowed in self.where:
            if key[i] not in allowed:
                return None
        return self._pick(key)

    def reduce(self, samples: Iterable[tuple[Labels, float]]) -> Iterable[tuple[Labels, float]]:
        if self.keep is None and not self.where:
            return samples
        out: dict[Labels, float] = {}
        for key, v in samples:
            sub = self._selected(key)
            if sub is not None:
                out[sub] = out.get(sub, 0.0) + v
        return out.items()

    def reduce_hists(self, hists: dict[Labels, Histogram]) -> Iterable[tuple[Labels, Histogram]]:
        if self.keep is None and not self.where:
            return hists.items()
        out: dict[Labels, Histogram] = {}
        for key, h in hists.items():
            sub = self._selected(key)
            if sub is not None:
                acc = out.get(sub)
                if acc is None:
                    acc = out[sub] = Histogram(h.buckets)
                acc.merge(h)
        return out.items()

    def write(self, lines: list[str], samples: Iterable[tuple[Labels, float]]) -> None:
        texts, name, names, scale = self.texts, self.name, self.labels, self.scale
        for key, value in self.reduce(samples):
            text = texts.get(key)
            if text is None:
                text = texts[key] = name + _labels(names, key) + " "
            lines.append(text + _num(value * scale if scale != 1.0 else value))

    def write_hists(self, lines: list[str], hists: dict[Labels, Histogram]) -> None:
        cache, name, names = self.buckets, self.name, self.labels
        for key, h in self.reduce_hists(hists):
            prefixes = cache.get(key)
            if prefixes is None:
                prefixes = cache[key] = _bucket_prefixes(name, names, key, h.buckets)
            buckets, sum_text, count_text = prefixes
            lines.extend(map(str.__add__, buckets, map(str, h.cumulative())))
            lines.append(sum_text + _num(h.sum))
            lines.append(count_text + str(h.count))


def _bucket_prefixes(
    name: str, names: Labels, key: Labels, buckets: tuple[float, ...]
) -> tuple[list[str], str, str]:
    les = [_num(b) for b in buckets] + ["+Inf"]
    return (
        [name + "_bucket" + _labels(names, key, 'le="' + le + '"') + " " for le in les],
        f"{name}_sum{_labels(names, key)} ",
        f"{name}_count{_labels(names, key)} ",
    )


class Exposition:
    """Renders ``agg`` under ``profiles``; keeps its caches between scrapes."""

    def __init__(self, agg: Aggregator, profiles: Sequence[Profile]) -> None:
        self.agg = agg
        self.profiles = list(profiles)
        self._generation = agg.generation
        self._outs = self._build()
        self._taken = frozenset(o.name for o in self._outs)
        self._custom: dict[tuple[str, str], dict[tuple[str, tuple[tuple[str, str], ...]], str]]
        self._custom = {}

    def _build(self) -> list[_Out]:
        fams = self.agg.families
        return [_Out.of(p, e, fams[e.family]) for p in self.profiles for e in p.exposures]

    def names(self) -> list[str]:
        """Every catalog name exposed, in scrape order (custom metrics not included)."""
        return [o.name for o in self._outs]

    def freeze(self, now: float) -> Frozen:
        """Copy what a scrape writes (scrape-time values computed now); run on the loop."""
        if self.agg.generation != self._generation:  # series were forgotten: drop caches
            self._generation = self.agg.generation
            self._outs = self._build()
            self._custom = {}
        values: dict[str, list[tuple[Labels, float]]] = {}
        hists: dict[str, dict[Labels, Histogram]] = {}
        for out in self._outs:
            fam = out.family
            if fam.name in values or fam.name in hists:
                continue
            if fam.kind == "histogram":
                hists[fam.name] = {k: h.copy() for k, h in fam.hists.items()}
            elif fam.computed is not None:
                values[fam.name] = list(fam.computed(now))
            else:
                values[fam.name] = list(fam.values.items())
        custom = [
            _FrozenCustom(
                cf.name,
                cf.kind,
                cf.help,
                list(cf.values.items()),
                [(k, h.copy()) for k, h in cf.hists.items()],
            )
            for cf in self.agg.custom.families.values()
        ]
        return Frozen(self._outs, values, hists, custom)

    def render(self, now: float, *, openmetrics: bool = False, only: str | None = None) -> str:
        """Freeze and write in one go (tests, benchmarks)."""
        return self.write(self.freeze(now), openmetrics=openmetrics, only=only)

    def write(self, frozen: Frozen, *, openmetrics: bool = False, only: str | None = None) -> str:
        """Every configured profile's names, or ``only`` that profile's, from a copy."""
        lines: list[str] = []
        for out in frozen.outs:
            if only is not None and out.profile != only:
                continue
            fam = out.family
            lines += _header(out.name, fam.kind, out.help, openmetrics, self._taken)
            if fam.kind == "histogram":
                out.write_hists(lines, frozen.hists[fam.name])
            else:
                out.write(lines, frozen.values[fam.name])
        for profile in self.profiles:
            if only is not None and profile.name != only:
                continue
            for cf in frozen.custom:
                self._write_custom(lines, profile, cf, openmetrics)
        if openmetrics:
            lines.append("# EOF")
        return "\n".join(lines) + "\n"

    def _write_custom(
        self, lines: list[str], profile: Profile, cf: _FrozenCustom, openmetrics: bool
    ) -> None:
        for name in profile.custom_names(cf.name, cf.kind):
            lines += _header(name, cf.kind, cf.help, openmetrics, self._taken)
            cache = self._custom.setdefault((name, cf.name), {})
            for key, value in cf.values:
                text = cache.get(key)
                if text is None:
                    text = cache[key] = name + _custom_labels(key) + " "
                lines.append(text + _num(value))
            for key, h in cf.hists:
                bot, pairs = key
                names = ("bot", *(k for k, _ in pairs))
                values = (bot, *(v for _, v in pairs))
                buckets, sum_text, count_text = _bucket_prefixes(name, names, values, h.buckets)
                lines.extend(map(str.__add__, buckets, map(str, h.cumulative())))
                lines.append(sum_text + _num(h.sum))
                lines.append(count_text + str(h.count))


_CustomKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True, slots=True)
class _FrozenCustom:
    """A custom metric's series as they were when a scrape began."""

    name: str
    kind: Kind
    help: str
    values: list[tuple[_CustomKey, float]]
    hists: list[tuple[_CustomKey, Histogram]]


@dataclass(frozen=True, slots=True)
class Frozen:
    """What one scrape writes: the exposed names and copies of their values."""

    outs: list[_Out]
    values: dict[str, list[tuple[Labels, float]]]
    hists: dict[str, dict[Labels, Histogram]]
    custom: list[_FrozenCustom]


def _custom_labels(key: _CustomKey) -> str:
    bot, pairs = key
    return _labels(("bot", *(k for k, _ in pairs)), (bot, *(v for _, v in pairs)))
