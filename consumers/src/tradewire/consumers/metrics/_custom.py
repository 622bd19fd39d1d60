"""Custom metrics: the numbers bots send as ``metric`` events (grid levels, DCA steps, ...).

A name's type is fixed by the first event that uses it, fleet-wide; later events of
another type are refused. Names that a seed profile shows a catalog row under are
refused too (a bot cannot shadow ``bot_portfolio_value_usdt``). Bounds: at most
``max_names`` names, label values capped per bot like every other label, and at most
``max_series`` label sets per bot and name. Every refusal is counted in
``custom_metrics_refused_total{bot,reason}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tradewire.schemas import Metric

from ._caps import LabelCaps
from ._families import DEFAULT_BUCKETS, Family, Histogram, Kind
from ._profiles import PROFILES, custom_name_is_reserved, reserved_custom_names

__all__ = ["CustomFamily", "CustomKey", "CustomMetrics"]

# (bot, ((label, value), ...) sorted by label)
CustomKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class CustomFamily:
    name: str
    kind: Kind
    unit: str = ""
    values: dict[CustomKey, float] = field(default_factory=dict)
    hists: dict[CustomKey, Histogram] = field(default_factory=dict)
    series: dict[str, int] = field(default_factory=dict)  # label sets per bot

    @property
    def help(self) -> str:
        unit = f" ({self.unit})" if self.unit else ""
        return f"Custom metric {self.name}{unit}, from the bots' metric events"


class CustomMetrics:
    def __init__(self, caps: LabelCaps, refused: Family, max_names: int, max_series: int) -> None:
        self.caps = caps
        self.refused = refused
        self.max_names = max_names
        self.max_series = max_series
        self.families: dict[str, CustomFamily] = {}
        self._reserved = reserved_custom_names()
        self._rejected: set[str] = set()  # names refused for good (reserved or clashing)
        self._tradewire_names: dict[str, str] = {}  # what tradewire's profile shows -> name

    def _family(self, ev: Metric) -> CustomFamily | str:
        """The family for ``ev``, or the reason it is refused."""
        name = ev.name
        fam = self.families.get(name)
        if fam is not None:
            return fam if fam.kind == ev.type else "type_conflict"
        if name in self._rejected:
            return "reserved_name"
        if custom_name_is_reserved(name, self._reserved):
            self._rejected.add(name)
            return "reserved_name"
        # tradewire's profile appends _total to counters: "x" and "x_total" would clash.
        (shown,) = PROFILES["tradewire"].custom_names(name, ev.type)
        if shown in self._tradewire_names:
            return "name_conflict"
        if len(self.families) >= self.max_names:
            return "too_many_names"
        self._tradewire_names[shown] = name
        fam = self.families[name] = CustomFamily(name, ev.type, ev.unit)
        return fam

    def fold(self, ev: Metric, seed: bool) -> None:
        bot = ev.bot
        fam = self._family(ev)
        if isinstance(fam, str):
            self.refused.inc((bot, fam))
            return
        if seed and fam.kind != "gauge":
            return  # counters and histograms start at zero after a restart
        caps, name = self.caps, fam.name
        key: CustomKey = (
            bot,
            tuple(sorted((k, caps(bot, f"{name}.{k}", v)) for k, v in ev.labels.items())),
        )
        store: dict[CustomKey, float] | dict[CustomKey, Histogram] = (
            fam.hists if fam.kind == "histogram" else fam.values
        )
        if key not in store:
            n = fam.series.get(bot, 0)
            if n >= self.max_series:
                self.refused.inc((bot, "too_many_series"))
                return
            fam.series[bot] = n + 1
        if fam.kind == "gauge":
            fam.values[key] = ev.value
        elif fam.kind == "counter":
            fam.values[key] = fam.values.get(key, 0.0) + ev.value
        else:
            h = fam.hists.get(key)
            if h is None:
                h = fam.hists[key] = Histogram(DEFAULT_BUCKETS)
            h.observe(ev.value)

    def forget_bot(self, bot: str) -> None:
        for fam in self.families.values():
            for store in (fam.values, fam.hists):
                for key in [k for k in store if k[0] == bot]:
                    del store[key]
            fam.series.pop(bot, None)
