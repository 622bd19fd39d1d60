"""Rule evaluation on the stream: per (rule, bot, labels) inactive -> pending -> firing -> resolved.

Pure and clock-driven: ``observe(event, now)`` folds an event in and re-evaluates what
it touched; ``tick(now)`` re-evaluates everything that can have moved (absence rules,
windows emptying, ``for`` and ``keep_firing_for`` elapsing), passing by the series an
evaluation would leave as they are (``_quiet_until``): most of a fleet's, most seconds.
Both return the state changes to publish.

Each bot has a clock of its own: the time of its latest event (never past ``now``).
Windows hold (event time, value) pairs and are cut at ``bot clock - window``, so a bot
that falls silent keeps its window alerts as they were (no data is not "all clear";
BotDown reports the silence), and a bot's clock skew does not empty its windows. For
the same reason a pending alert completes its ``for`` only on data: it needs an event
of the bot received ``for`` after the condition began.

A bot is evaluated only once it is *live*: once an event arrived whose time is within
``live_window_s`` of when it was received. History (an import of an old log, an outbox
replayed long after) fills series and windows but never raises an alert by itself.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tradewire.schemas import AlertChange, Envelope, kind_of

from ._rules import FilterValue, Rule

__all__ = ["BotState", "Engine", "Instance", "SeriesState"]

log = logging.getLogger("tradewire.alerts")
# Threshold and absence series keep what they last saw across a restart; windows are
# refilled from the stream instead.
_KEPT = ("threshold", "absence")


@dataclass
class _Series:
    last_ts: float = 0.0  # time of the latest event folded in (threshold, absence)
    last_value: float | None = None
    # (event time, value, matched) in arrival order, and running aggregates of it, so
    # that evaluating a window on every event costs O(log n), not a pass over it.
    window: deque[tuple[float, float, bool]] = field(default_factory=deque)
    matched: int = 0  # ratio: entries matching `match`
    ordered: list[float] = field(default_factory=list)  # quantile: the values, sorted
    # Until then (our clock) a tick has nothing to evaluate here (Engine._quiet_until);
    # 0 once an event changed it.
    quiet_until: float = 0.0

    def add(self, ts: float, value: float, matched: bool, *, keep_order: bool) -> None:
        self.window.append((ts, value, matched))
        self.matched += matched
        if keep_order:
            bisect.insort(self.ordered, value)

    def cut(self, before: float, *, keep_order: bool) -> None:
        w = self.window
        while w and w[0][0] < before:
            _, value, matched = w.popleft()
            self.matched -= matched
            if keep_order:
                del self.ordered[bisect.bisect_left(self.ordered, value)]


@dataclass
class _Bot:
    seen: float = 0.0  # time of the bot's latest event: its clock
    live: bool = False
    heard: float = 0.0  # our clock when its latest event arrived (0: not since start)


class Instance(msgspec.Struct, kw_only=True):
    """One alert: its state and what the rule last computed for it (saved as is)."""

    rule: str
    bot: str
    labels: dict[str, str]
    fingerprint: str
    state: str = "inactive"
    severity: str = "warning"
    active_since: float | None = None
    cleared_since: float | None = None
    value: float | None = None


SeriesState = tuple[str, list[str], float, float | None]  # rule, key, last_ts, last_value


class BotState(msgspec.Struct, kw_only=True):
    """What the engine keeps of one bot across a restart: its clock, whether it is
    live, and what its threshold and absence series last saw."""

    seen: float
    live: bool
    series: list[SeriesState] = msgspec.field(default_factory=list)


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


def _quantile(v: list[float], q: float) -> float:
    """The ``q`` quantile of sorted values (linear interpolation)."""
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


Key = tuple[str, tuple[str, ...]]  # (rule, (bot, *per values))


class Engine:
    def __init__(
        self, rules: list[Rule], *, dedup: int = 200_000, live_window_s: float = 300.0
    ) -> None:
        self.rules = {r.name: r for r in rules}
        self._by_event: dict[str, list[Rule]] = {}
        for r in rules:
            self._by_event.setdefault(r.event, []).append(r)
        self._durations = {r.name: (r.window_s, r.for_s, r.keep_s) for r in rules}
        # Parsed once, not per event: each evaluation walks the levels.
        self._levels = {r.name: tuple(r.levels()) for r in rules}
        self.series: dict[Key, _Series] = {}
        self.instances: dict[Key, Instance] = {}
        self.bots: dict[str, _Bot] = {}
        self._bot_series: dict[str, set[Key]] = {}  # bot -> its series' keys
        self.live_window_s = live_window_s
        self.dirty_bots: set[str] = set()  # bots whose saved state is out of date
        self._by_fp: dict[str, Key] = {}
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
        bot = self.bots.get(ev.bot)
        if bot is None:
            bot = self.bots[ev.bot] = _Bot()
        if not bot.live and abs(now - ev.ts) <= self.live_window_s:
            bot.live = True
            log.info("bot %s is live: its alerts are evaluated from now on", ev.bot)
        bot.seen = max(bot.seen, ev.ts)
        self.dirty_bots.add(ev.bot)
        if evaluate:
            bot.heard = now
        evaluate = evaluate and bot.live
        out: list[AlertChange] = []
        for rule in self._by_event.get(kind_of(ev), ()):
            key = (ev.bot, *(str(getattr(ev, f)) for f in rule.per)) if rule.per else (ev.bot,)
            k = (rule.name, key)
            s = self.series.get(k) or self._new_series(k)
            if rule.kind == "threshold":
                if ev.ts < s.last_ts:
                    continue  # older than what it holds (a replay): the latest event wins
                if rule.field:
                    if not _matches(ev, rule.where):
                        continue
                    s.last_value = _field(ev, rule.field)
                else:
                    s.last_value = 1.0 if _matches(ev, rule.where) else 0.0
                s.last_ts = ev.ts
                s.quiet_until = 0.0
            elif rule.kind == "absence":
                if not _matches(ev, rule.where):
                    continue
                # Up to now only: a bot clock ahead of ours must not hold off an absence.
                s.last_ts = max(s.last_ts, min(ev.ts, now))
                s.quiet_until = 0.0
            elif _matches(ev, rule.where):
                quantile = rule.kind == "quantile"
                value = _field(ev, rule.field) if quantile else 0.0
                if value is None:
                    continue  # no value to take a quantile of
                matched = rule.kind == "ratio" and _matches(ev, rule.match)
                s.add(ev.ts, value, matched, keep_order=quantile)
                s.quiet_until = 0.0
            else:
                continue
            if evaluate:
                out += self._evaluate(rule, k, s, now)
        return out

    def _new_series(self, k: Key) -> _Series:
        s = self.series[k] = _Series()
        self._bot_series.setdefault(k[1][0], set()).add(k)
        return s

    def tick(self, now: float) -> list[AlertChange]:
        out: list[AlertChange] = []
        # Over the dict itself, not a copy: evaluating adds no series, and a copy of
        # every key each second is garbage the collector then walks the heap for.
        for k, s in self.series.items():
            if now < s.quiet_until:
                continue  # most series of a fleet, most seconds
            bot = self.bots.get(k[1][0])
            if bot is not None and bot.live:
                out += self._evaluate(self.rules[k[0]], k, s, now)
        return out

    def _quiet_until(self, rule: Rule, s: _Series, inst: Instance) -> float:
        """Until when (our clock) evaluating a series again without new data for it
        would change nothing, so a tick may pass it by. Only an inactive alert waits
        (a pending or firing one has its ``for`` and ``keep_firing_for`` running, a
        resolved one turns inactive); it had no level, and gets one no sooner than:
        - threshold: never (its value is its latest event's);
        - count, ratio, quantile: when its oldest entry leaves the window, at the bot's
          clock, which is never past ours (until then the value is the same);
        - absence, ``>`` or ``>=``: when the gap reaches the lowest threshold (the gap
          only grows); its value is then not refreshed while it waits, which nothing
          reads: an inactive alert's value is neither published nor saved.
        The slack keeps float rounding on the waiting side."""
        if inst.state != "inactive":
            return 0.0
        if rule.kind == "threshold":
            return math.inf
        if rule.kind == "absence":
            if not s.last_ts:
                return math.inf  # no value until an event comes
            if rule.op not in (">", ">="):
                return 0.0
            due = s.last_ts + self._levels[rule.name][-1][1]
        elif not s.window:
            return math.inf
        else:
            due = s.window[0][0] + self._durations[rule.name][0]
        return due - (1e-3 + abs(due) * 1e-12)

    def retire(self, bot: str, now: float) -> list[AlertChange]:
        """Forget a bot: its firing alerts resolve, pending ones go inactive, and its
        series go, so nothing about it is raised again until it sends anew."""
        out: list[AlertChange] = []
        for k, inst in [(k, i) for k, i in self.instances.items() if k[1][0] == bot]:
            if inst.state in ("firing", "pending"):
                state = "resolved" if inst.state == "firing" else "inactive"
                out.append(self._change(self.rules[inst.rule], inst, state, now))
            del self.instances[k]
            self._by_fp.pop(inst.fingerprint, None)
        for k in self._bot_series.pop(bot, ()):
            self.series.pop(k, None)
        if self.bots.pop(bot, None) is not None:
            self.dirty_bots.add(bot)  # its saved state goes too
        return out

    # -- evaluation ------------------------------------------------------------------------
    def _value(self, rule: Rule, s: _Series, now: float, bot: str) -> float | None:
        if rule.kind == "threshold":
            return s.last_value
        seen = self.bots[bot].seen if bot in self.bots else now
        clock = min(now, seen) if seen else now  # the bot's clock, never past ours
        if rule.kind == "absence":
            if not s.last_ts:
                return None
            # Never negative: a bot clock ahead of ours must not hold an absence off.
            return max(0.0, (clock if rule.while_bot_active else now) - s.last_ts)
        s.cut(clock - self._durations[rule.name][0], keep_order=rule.kind == "quantile")
        w = s.window
        if rule.kind == "count":
            return float(len(w))
        if rule.kind == "ratio":
            if len(w) < rule.min_events:
                return None
            return s.matched / len(w)
        if len(s.ordered) < rule.min_events:
            return None
        return _quantile(s.ordered, rule.q)

    def _evaluate(self, rule: Rule, k: Key, s: _Series, now: float) -> list[AlertChange]:
        key = k[1]
        value = self._value(rule, s, now, key[0])
        inst = self.instances.get(k)
        if inst is None:
            labels = dict(zip(rule.per, key[1:], strict=True))
            fp = hashlib.sha256(f"{rule.name}|{key!r}".encode()).hexdigest()[:16]
            inst = Instance(rule=rule.name, bot=key[0], labels=labels, fingerprint=fp)
            self.instances[k] = inst
            self._by_fp[fp] = k
        inst.value = value
        level = None
        if value is not None:
            for name, threshold in self._levels[rule.name]:
                if rule.passes(value, threshold):
                    level = name
                    break
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
                # `for` needs the condition seen to hold that long: a bot silent since
                # stays pending (absence of the bot itself counts on our clock).
                held_until = now
                if rule.kind != "absence" or rule.while_bot_active:
                    held_until = min(now, self.bots[key[0]].heard)
                if held_until - (inst.active_since or now) >= for_s:
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
        s.quiet_until = self._quiet_until(rule, s, inst)
        return out

    def _change(self, rule: Rule, inst: Instance, state: str, now: float) -> AlertChange:
        inst.state = state
        return self._describe(rule, inst, f"{inst.fingerprint}-{int(now * 1000)}-{state}", now)

    def firing(self) -> list[AlertChange]:
        """The alerts firing now, each as its latest firing change would read."""
        return [
            self._firing_change(i)
            for i in self.instances.values()
            if i.state == "firing" and i.rule in self.rules
        ]

    def _firing_change(self, i: Instance) -> AlertChange:
        since = i.active_since or 0.0
        return self._describe(
            self.rules[i.rule], i, f"{i.fingerprint}-{int(since * 1000)}-firing", since
        )

    def _describe(self, rule: Rule, inst: Instance, change_id: str, now: float) -> AlertChange:
        threshold = dict(self._levels[rule.name]).get(inst.severity)
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
    def instance(self, fingerprint: str) -> tuple[list[str], Instance, AlertChange | None] | None:
        """(key, instance, its firing change when firing) of a pending or firing alert;
        None when it is neither (nothing to keep)."""
        k = self._by_fp.get(fingerprint)
        inst = self.instances.get(k) if k is not None else None
        if k is None or inst is None or inst.state not in ("pending", "firing"):
            return None
        firing = self._firing_change(inst) if inst.state == "firing" else None
        return list(k[1]), inst, firing

    def bot_state(self, bot: str) -> BotState | None:
        """What to keep of a bot (None: the bot is forgotten). Window contents are not
        kept: they are rebuilt from the stream's recent events."""
        b = self.bots.get(bot)
        if b is None:
            return None
        series: list[SeriesState] = []
        for name, key in sorted(self._bot_series.get(bot, ())):
            if self.rules[name].kind in _KEPT:
                s = self.series[(name, key)]
                series.append((name, list(key), s.last_ts, s.last_value))
        return BotState(seen=b.seen, live=b.live, series=series)

    def import_instance(self, key: list[str], inst: Instance) -> None:
        if inst.rule not in self.rules or not key:
            return  # a rule that is gone
        k = (inst.rule, tuple(key))
        self.instances[k] = inst
        self._by_fp[inst.fingerprint] = k
        (self.series.get(k) or self._new_series(k)).quiet_until = 0.0  # evaluated anew
        self.bots.setdefault(key[0], _Bot(live=True))

    def import_bot(self, bot: str, state: BotState) -> None:
        b = self.bots.setdefault(bot, _Bot())
        b.seen = max(b.seen, state.seen)
        b.live = b.live or state.live
        for name, key, last_ts, last_value in state.series:
            if name in self.rules and key and key[0] == bot:
                k = (name, tuple(key))
                s = self.series.get(k) or self._new_series(k)
                if last_ts >= s.last_ts:
                    s.last_ts, s.last_value = float(last_ts), last_value
                    s.quiet_until = 0.0

    def import_legacy(self, data: dict[str, Any]) -> None:
        """The single ``engine`` value of tradewire before state was kept per key: the
        bots in it were evaluated then, so they are live."""
        for item in data.get("instances", []):
            key = list(item.pop("key"))
            self.import_instance(key, msgspec.convert(item, Instance))
        bots: dict[str, BotState] = {}
        for name, key, last_ts, last_value in data.get("series", []):
            state = bots.setdefault(key[0], BotState(seen=0.0, live=True))
            state.seen = max(state.seen, float(last_ts))
            state.series.append((name, list(key), float(last_ts), last_value))
        for bot, state in bots.items():
            self.import_bot(bot, state)
