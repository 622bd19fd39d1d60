"""``tradewire alerts backtest``: replay rules over the store's history, in event time.

The same ``Engine`` as the live service, fed the stored events in timestamp order and
ticked every ``step`` seconds of event time in between (absence rules, windows
emptying, ``for`` and ``keep_firing_for``). Events in the longest window before
``from`` only warm the windows up, so an alert does not start "cold" at ``from``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb
import msgspec

from tradewire.consumers.store import TABLES  # the store's tables, read back as events
from tradewire.schemas import AlertChange, Envelope

from ._engine import Engine, Instance
from ._payloads import SEVERITY_RANK
from ._rules import Rule

__all__ = ["Backtest", "Episode", "backtest"]


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


def _events(
    con: duckdb.DuckDBPyConnection, kind: str, start: float, end: float, bots: list[str]
) -> Iterator[Envelope]:
    table = TABLES[kind]
    names = [c.name for c in table.columns if c.name not in ("received_at", "stream_seq")]
    cols = ", ".join(f'"{n}"' for n in names)
    sql = f"SELECT {cols} FROM {table.name} WHERE ts >= ? AND ts < ?"
    params: list[object] = [start, end]
    if bots:
        sql += f" AND bot IN ({', '.join('?' for _ in bots)})"
        params += bots
    cur = con.execute(sql + " ORDER BY ts, seq", params)
    while rows := cur.fetchmany(10_000):
        for row in rows:
            data = {n: v for n, v in zip(names, row, strict=True) if v is not None}
            yield msgspec.convert(data, table.cls)


def backtest(
    con: duckdb.DuckDBPyConnection,
    rules: list[Rule],
    start: float,
    end: float,
    *,
    bots: list[str] | None = None,
    step_s: float = 5.0,
) -> Backtest:
    engine = Engine(rules)
    by_name = {r.name: r for r in rules}
    warmup = max((max(r.window_s, r.for_s) for r in rules), default=0.0)
    kinds = sorted({r.event for r in rules})
    streams = [_events(con, k, start - warmup, end, bots or []) for k in kinds]
    result = Backtest()
    open_: dict[str, tuple[Episode, Instance]] = {}

    def record(changes: list[AlertChange]) -> None:
        for c in changes:
            result.changes.append(c)
            if c.state == "firing" and c.fingerprint not in open_:
                inst = next(i for i in engine.instances.values() if i.fingerprint == c.fingerprint)
                ep = Episode(c.rule, c.bot, c.labels, c.severity, c.ts, None, c.value)
                open_[c.fingerprint] = (ep, inst)
                result.episodes.append(ep)
            elif c.state == "firing":
                ep = open_[c.fingerprint][0]
                if SEVERITY_RANK[c.severity] > SEVERITY_RANK[ep.severity]:
                    ep.severity = c.severity
            elif c.state == "resolved" and c.fingerprint in open_:
                open_.pop(c.fingerprint)[0].resolved_at = c.ts
        for ep, inst in open_.values():  # track how far it went while firing
            ep.peak = _further(by_name[ep.rule], ep.peak, inst.value)

    clock = start
    for ev in heapq.merge(*streams, key=lambda e: e.ts):
        if ev.ts < start:
            engine.observe(ev, ev.ts, evaluate=False)
            continue
        while clock + step_s <= ev.ts:
            clock += step_s
            record(engine.tick(clock))
        result.events += 1
        record(engine.observe(ev, ev.ts))
    while clock + step_s <= end:
        clock += step_s
        record(engine.tick(clock))
    return result


def _further(rule: Rule, a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    return max(a, b) if rule.op in (">", ">=") else min(a, b)
