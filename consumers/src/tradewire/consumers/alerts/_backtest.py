"""``tradewire alerts backtest``: replay rules over the store's history, in event time.

The same ``Engine`` as the live service, fed the stored events in timestamp order and
ticked every ``step`` seconds of event time in between (absence rules, windows
emptying, ``for`` and ``keep_firing_for``). Events in the longest window before
``from`` only warm the windows up, so an alert does not start "cold" at ``from``.

The events come from one query (:func:`events_sql`): every kind the rules read, as one
JSON column, in one ``ORDER BY``. One statement is one read-only transaction, so it
reads a consistent snapshot whether it runs on the file or, streamed, in the running
store (which sees what its WAL holds: a copy of the file alone would not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tradewire.consumers.store import TABLES  # the store's tables, read back as events
from tradewire.schemas import BOT_ID_PATTERN, AlertChange, Envelope

from ._engine import Engine, Instance
from ._payloads import SEVERITY_RANK
from ._rules import Rule

__all__ = [
    "Backtest",
    "Episode",
    "Replay",
    "event_of_row",
    "events_sql",
    "replay_order",
    "warmup_s",
]

_BOT = re.compile(BOT_ID_PATTERN)
_NOT_EVENT_FIELDS = ("received_at", "stream_seq")


@dataclass
class Episode:
    """One alert from firing to resolved (``resolved_at`` None: still firing at ``to``)."""

    rule: str
    bot: str
    labels: dict[str, str]
    severity: str  # the highest it reached
    fired_at: float
    resolved_at: float | None
    peak: float | None  # the value furthest past the threshold while it fired


@dataclass
class Backtest:
    episodes: list[Episode] = field(default_factory=list)
    events: int = 0
    changes: list[AlertChange] = field(default_factory=list)


def warmup_s(rules: list[Rule]) -> float:
    """How far before ``from`` events are read to fill the windows."""
    return max((max(r.window_s, r.for_s) for r in rules), default=0.0)


def events_sql(rules: list[Rule], start: float, end: float, bots: list[str]) -> str:
    """One SELECT of every event the rules read in [start - warmup, end), in replay order.

    Rows are ``(ts, kind, seq, event)``, ``event`` the stored columns as a JSON object.
    Only numbers, kind names and validated bot ids are put into the SQL text.
    """
    for bot in bots:
        if not _BOT.match(bot):
            raise ValueError(f"--bot {bot!r}: a bot id is 1-64 of [A-Za-z0-9_-]")
    kinds = sorted({r.event for r in rules})
    where = f"ts >= {start - warmup_s(rules)!r} AND ts < {end!r}"
    if bots:
        where += f" AND bot IN ({', '.join(repr(b) for b in bots)})"
    parts = []
    for kind in kinds:
        table = TABLES[kind]
        names = [c.name for c in table.columns if c.name not in _NOT_EVENT_FIELDS]
        packed = ", ".join(f'"{n}" := "{n}"' for n in names)
        parts.append(
            f"SELECT ts, '{kind}' AS kind, seq, to_json(struct_pack({packed})) AS event"
            f" FROM {table.name} WHERE {where}"
        )
    # The order a merge of per-kind streams gave: time, then kind, then seq.
    return " UNION ALL ".join(parts) + " ORDER BY ts, kind, seq"


def replay_order(row: list[Any]) -> tuple[Any, ...]:
    """What :func:`events_sql` orders by, for merging several stores' rows."""
    return (row[0], row[1], row[2])


def event_of_row(row: list[Any]) -> Envelope:
    """A row of :func:`events_sql` as the event it was stored from.

    NULLs are left out, so a column added after the row was stored takes the field's
    default, as the decoder would give it.
    """
    _, kind, _, text = row
    data = {k: v for k, v in msgspec.json.decode(text).items() if v is not None}
    event: Envelope = msgspec.convert(data, TABLES[kind].cls)
    return event


class Replay:
    """Feed events in order with :meth:`feed`, then :meth:`finish` for the result."""

    def __init__(self, rules: list[Rule], start: float, end: float, step_s: float) -> None:
        self.engine = Engine(rules)
        self.rules = {r.name: r for r in rules}
        self.start, self.end, self.step_s = start, end, step_s
        self.clock = start
        self.result = Backtest()
        self._open: dict[str, tuple[Episode, Instance]] = {}

    def feed(self, ev: Envelope) -> None:
        if ev.ts < self.start:
            self.engine.observe(ev, ev.ts, evaluate=False)
            return
        while self.clock + self.step_s <= ev.ts:
            self.clock += self.step_s
            self._record(self.engine.tick(self.clock))
        self.result.events += 1
        self._record(self.engine.observe(ev, ev.ts))

    def finish(self) -> Backtest:
        while self.clock + self.step_s <= self.end:
            self.clock += self.step_s
            self._record(self.engine.tick(self.clock))
        return self.result

    def _record(self, changes: list[AlertChange]) -> None:
        for c in changes:
            self.result.changes.append(c)
            if c.state == "firing" and c.fingerprint not in self._open:
                inst = next(
                    i for i in self.engine.instances.values() if i.fingerprint == c.fingerprint
                )
                ep = Episode(c.rule, c.bot, c.labels, c.severity, c.ts, None, c.value)
                self._open[c.fingerprint] = (ep, inst)
                self.result.episodes.append(ep)
            elif c.state == "firing":
                ep = self._open[c.fingerprint][0]
                if SEVERITY_RANK[c.severity] > SEVERITY_RANK[ep.severity]:
                    ep.severity = c.severity
            elif c.state == "resolved" and c.fingerprint in self._open:
                self._open.pop(c.fingerprint)[0].resolved_at = c.ts
        for ep, inst in self._open.values():  # track how far it went while firing
            ep.peak = _further(self.rules[ep.rule], ep.peak, inst.value)


def _further(rule: Rule, a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    return max(a, b) if rule.op in (">", ">=") else min(a, b)
