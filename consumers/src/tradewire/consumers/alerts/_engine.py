"""Rule evaluation on the stream: per (rule, bot, labels) inactive -> pending -> firing -> resolved.

Pure and clock-driven: ``observe(event, now)`` folds an event in and re-evaluates what
it touched; ``tick(now)`` re-evaluates everything (absence rules, windows emptying,
``for`` and ``keep_firing_for`` elapsing). Both return the state changes to publish.
Windows hold (event time, value) pairs and are cut at ``now - window``.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tradewire.schemas import AlertChange, Envelope, kind_of

from ._rules import FilterValue, Rule

__all__ = ["Engine", "Instance"]


@dataclass
class _Series:
    last_ts: float = 0.0
    last_value: float | None = None
    window: deque[tuple[float, float, bool]] = field(default_factory=deque)


@dataclass
class Instance:
    """One alert: its state and what the rule last computed for it."""

    rule: str
    bot: str
    labels: dict[str, str]
    fingerprint: str
    state: str = "inactive"
    severity: str = "warning"
    active_since: float | None = None
    cleared_since: float | None = None
    value: float | None = None


def _matches(ev: Envelope, flt: dict[str, FilterValue]) -> bool:
    for name, want in flt.items():
        got = getattr(ev, name)
        if isinstance(want, list):
            if str(got) not in want:
                return False
        elif isinstance(want, str) and want[:1] in "<>!":
            op, num = (want[:2], want[2:]) if want[1:2] == "=" else (want[:1], want[1:])
            x = float(got) if isinstance(got, int | float) else math.nan
            y = float(num)
            ok = {"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y, "!=": x != y}[op.strip()]
            if not ok:
                return False
        elif isinstance(want, bool) or isinstance(got, bool):
            if bool(got) != bool(want):
                return False
        elif str(got) != str(want):
            return False
    return True


def _field(ev: Envelope, expr: str) -> float | None:
    parts = [p.strip() for p in expr.split("/")]
    a = getattr(ev, parts[0])
    if a is None:
        return None
    if len(parts) == 1:
        return float(a)
    b = getattr(ev, parts[1])
    return float(a) / float(b) if b else None


def _quantile(values: list[float], q: float) -> float:
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


class Engine:
    def __init__(self, rules: list[Rule], *, dedup: int = 200_000) -> None:
        self.rules = {r.name: r for r in rules}
        self._by_event: dict[str, list[Rule]] = {}
        for r in rules:
            self._by_event.setdefault(r.event, []).append(r)
        self._durations = {r.name: (r.window_s, r.for_s, r.keep_s) for r in rules}
        self.series: dict[tuple[str, tuple[str, ...]], _Series] = {}
        self.instances: dict[tuple[str, tuple[str, ...]], Instance] = {}
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._dedup = dedup

    # -- input ----------------------------------------------------------------------------
    def observe(self, ev: Envelope, now: float, *, evaluate: bool = True) -> list[AlertChange]:
        """Fold one event in. ``evaluate=False`` only fills windows (a replay at start)."""
        if ev.id in self._ids:
            return []  # a redelivery changes nothing
        self._ids[ev.id] = None
        if len(self._ids) > self._dedup:
            self._ids.popitem(last=False)
        out: list[AlertChange] = []
        for rule in self._by_event.get(kind_of(ev), ()):
            key = (ev.bot, *(str(getattr(ev, f)) for f in rule.per))
            s = self.series.get((rule.name, key))
            if s is None:
                s = self.series[(rule.name, key)] = _Series()
            if rule.kind == "threshold":
                if rule.field:
                    if not _matches(ev, rule.where):
                        continue
                    s.last_value = _field(ev, rule.field)
                else:
                    s.last_value = 1.0 if _matches(ev, rule.where) else 0.0
            elif rule.kind == "absence":
                if not _matches(ev, rule.where):
                    continue
                # Up to now only: a bot clock ahead of ours must not hold off an absence.
                s.last_ts = max(s.last_ts, min(ev.ts, now))
            elif _matches(ev, rule.where):
                value = _field(ev, rule.field) if rule.field else 1.0
                matched = rule.kind != "ratio" or _matches(ev, rule.match)
                s.window.append((ev.ts, value if value is not None else math.nan, matched))
            else:
                continue
            if evaluate:
                out += self._evaluate(rule, key, s, now)
        return out

    def tick(self, now: float) -> list[AlertChange]:
        out: list[AlertChange] = []
        for (name, key), s in list(self.series.items()):
            out += self._evaluate(self.rules[name], key, s, now)
        return out

    # -- evaluation ------------------------------------------------------------------------
    def _value(self, rule: Rule, s: _Series, now: float) -> float | None:
        if rule.kind == "threshold":
            return s.last_value
        if rule.kind == "absence":
            return max(0.0, now - s.last_ts) if s.last_ts else None
        window_s = self._durations[rule.name][0]
        w = s.window
        while w and w[0][0] < now - window_s:
            w.popleft()
        if rule.kind == "count":
            return float(len(w))
        if rule.kind == "ratio":
            if len(w) < rule.min_events:
                return None
            return sum(1 for _, _, m in w if m) / len(w)
        values = [v for _, v, _ in w if not math.isnan(v)]
        if len(values) < rule.min_events:
            return None
        return _quantile(values, rule.q)

    def _evaluate(
        self, rule: Rule, key: tuple[str, ...], s: _Series, now: float
    ) -> list[AlertChange]:
        value = self._value(rule, s, now)
        inst = self.instances.get((rule.name, key))
        if inst is None:
            labels = dict(zip(rule.per, key[1:], strict=True))
            fp = hashlib.sha256(f"{rule.name}|{key!r}".encode()).hexdigest()[:16]
            inst = self.instances[(rule.name, key)] = Instance(rule.name, key[0], labels, fp)
        inst.value = value
        level = None
        if value is not None:
            level = next((n for n, t in rule.levels() if rule.passes(value, t)), None)
            if (
                level is None
                and inst.state == "firing"
                and rule.resolve is not None
                and rule.passes(value, rule.resolve)
            ):
                level = inst.severity  # hysteresis: not yet back past the resolve line
        _, for_s, keep_s = self._durations[rule.name]
        out: list[AlertChange] = []
        if inst.state in ("inactive", "resolved"):
            inst.state = "inactive"
            if level is not None:
                inst.severity, inst.active_since, inst.cleared_since = level, now, None
                if for_s <= 0:
                    out.append(self._change(rule, inst, "firing", now))
                else:
                    out.append(self._change(rule, inst, "pending", now))
        elif inst.state == "pending":
            if level is None:
                out.append(self._change(rule, inst, "inactive", now))
            else:
                inst.severity = level
                if now - (inst.active_since or now) >= for_s:
                    out.append(self._change(rule, inst, "firing", now))
        elif level is not None:  # firing, still active
            inst.cleared_since = None
            if level != inst.severity:
                inst.severity = level
                out.append(self._change(rule, inst, "firing", now))
        else:  # firing, condition gone
            if inst.cleared_since is None:
                inst.cleared_since = now
            if now - inst.cleared_since >= keep_s:
                out.append(self._change(rule, inst, "resolved", now))
        return out

    def _change(self, rule: Rule, inst: Instance, state: str, now: float) -> AlertChange:
        inst.state = state
        return self._describe(rule, inst, f"{inst.fingerprint}-{int(now * 1000)}-{state}", now)

    def firing(self) -> list[AlertChange]:
        """The alerts firing now, each as its latest firing change would read."""
        return [
            self._describe(
                self.rules[i.rule],
                i,
                f"{i.fingerprint}-{int((i.active_since or 0) * 1000)}-firing",
                i.active_since or 0.0,
            )
            for i in self.instances.values()
            if i.state == "firing" and i.rule in self.rules
        ]

    def _describe(self, rule: Rule, inst: Instance, change_id: str, now: float) -> AlertChange:
        threshold = dict(rule.levels()).get(inst.severity)
        return AlertChange(
            id=change_id,
            fingerprint=inst.fingerprint,
            rule=rule.name,
            bot=inst.bot,
            state=inst.state,  # type: ignore[arg-type]
            severity=inst.severity,  # type: ignore[arg-type]
            ts=now,
            active_since=inst.active_since,
            value=inst.value,
            threshold=threshold,
            labels={**rule.labels, **inst.labels},
            summary=rule.summary,
            runbook=rule.runbook,
        )

    # -- persistence ----------------------------------------------------------------------------
    def export_state(self) -> dict[str, Any]:
        """Instances that are not inactive, and what threshold and absence rules last saw.

        Window contents are not kept: they are rebuilt from the stream's recent events.
        """
        return {
            "instances": [
                msgspec.to_builtins(vars(i)) | {"key": list(k[1])}
                for k, i in self.instances.items()
                if i.state != "inactive"
            ],
            "series": [
                [name, list(key), s.last_ts, s.last_value]
                for (name, key), s in self.series.items()
                if self.rules[name].kind in ("threshold", "absence")
            ],
        }

    def import_state(self, data: dict[str, Any]) -> None:
        for item in data.get("instances", []):
            key = tuple(item.pop("key"))
            if item["rule"] in self.rules:
                self.instances[(item["rule"], key)] = Instance(**item)
                self.series.setdefault((item["rule"], key), _Series())
        for name, key, last_ts, last_value in data.get("series", []):
            if name in self.rules:
                s = self.series.setdefault((name, tuple(key)), _Series())
                s.last_ts = max(s.last_ts, float(last_ts))
                s.last_value = last_value
