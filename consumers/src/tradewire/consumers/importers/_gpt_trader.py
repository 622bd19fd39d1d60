"""GPT-Trader's log as stamped, validated tradewire events, with ids from the rows themselves.

- ``id``: ``gpt`` + a hash of the bot id, the source kind (db or jsonl) and the row's
  identity (rowid or line number, and a hash of its bytes); a row that becomes several
  events adds ``-1``, ``-2``. It does not depend on the mapping, so a better mapping
  later adds events and changes none.
- ``run``: one per bot, source kind and row type; ``seq`` numbers that type's events in
  log order. A re-import, or a later import of the grown log, gives every event the same
  envelope. A new row type starts its own run, so the runs stay gap-free.
- Rows the first importer stored (``_v1``) keep the id, run and seq it gave them, so an
  ``events.db`` imported before this version is not stored twice (docs/importers.md).
- ``ts``: the payload's timestamp, else the row's (the SQLite column, a JSONL line's
  ``timestamp`` or ``time``), always UTC; a JSONL line with neither takes the last time
  before it, and is counted.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from tradewire.schemas import KIND_OF, Envelope, EventError, Ws, validate

from . import _v1
from ._gpt_map import GptTraderMapper, MapState, source_type
from ._source import SourceRow, payload_ts

__all__ = ["GptTraderImport", "ImportResult", "TypeCounts"]

Source = Literal["db", "jsonl"]


@dataclass
class TypeCounts:
    """One line of the dry-run table: rows of one source type and what became of them."""

    seen: int = 0
    mapped: int = 0  # rows that gave at least one event
    events: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # by reason


@dataclass
class ImportResult:
    rows: int = 0
    by_type: dict[str, TypeCounts] = field(default_factory=dict)
    events: Counter[str] = field(default_factory=Counter)  # by our kind
    inferred_ts: int = 0  # JSONL lines that took the time of a line before them
    legacy_ids: int = 0  # events that kept the first importer's id

    def count(self, name: str) -> TypeCounts:
        if name not in self.by_type:
            self.by_type[name] = TypeCounts()
        return self.by_type[name]

    @property
    def skipped(self) -> Counter[str]:
        """Skipped rows by reason, over all types."""
        total: Counter[str] = Counter()
        for counts in self.by_type.values():
            total.update(counts.skipped)
        return total


def _meaning(event: Envelope) -> str:
    kind = KIND_OF[type(event)]
    return f"{kind}:{event.state}" if isinstance(event, Ws) else kind


def _heir(events: list[Envelope], meaning: str) -> int | None:
    """Which of a row's events takes the id the first importer gave the row: the one of
    the same kind and state (a reconnect row now gives two ws events), else the first of
    the same kind. A row whose kind changed (a stale mark was a guard trip) keeps none."""
    kind = meaning.partition(":")[0]
    same_kind = [i for i, e in enumerate(events) if KIND_OF[type(e)] == kind]
    exact = [i for i in same_kind if _meaning(events[i]) == meaning]
    candidates = exact or same_kind
    return candidates[0] if candidates else None


def _digest(*parts: str, size: int) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:size]


class GptTraderImport:
    """Turns :class:`SourceRow`\\ s into events; ``state`` and ``result`` carry over calls."""

    def __init__(
        self,
        bot: str,
        source: Source,
        *,
        state: MapState | None = None,
        result: ImportResult | None = None,
    ) -> None:
        self.bot = bot
        self.source = source
        self.mapper = GptTraderMapper(state)
        self.result = result or ImportResult()
        self._runs: dict[str, str] = {}

    @property
    def state(self) -> MapState:
        return self.mapper.state

    def events(self, rows: Iterable[SourceRow]) -> Iterator[Envelope]:
        for row in rows:
            yield from self.row_events(row)

    def row_events(self, row: SourceRow) -> list[Envelope]:
        """The row's events, stamped and valid; what was skipped is counted."""
        result, state = self.result, self.state
        result.rows += 1
        legacy = self._v1_envelope(row) if self.source == "db" else None
        if row.payload is None:
            result.count(row.etype or "?").seen += 1
            result.count(row.etype or "?").skipped["unreadable payload"] += 1
            return []
        ts = payload_ts(row.payload) or row.ts
        if ts is not None:
            state.last_ts = ts
        elif state.last_ts is not None and self.source == "jsonl":
            ts = state.last_ts
            result.inferred_ts += 1
        if ts is None:
            counts = result.count(source_type(row.etype, row.payload))
            counts.seen += 1
            counts.skipped["no timestamp (and no line before it has one)"] += 1
            return []
        name, mapped = self.mapper.map(row.etype, row.payload, ts)
        counts = result.count(name)
        counts.seen += 1
        if isinstance(mapped, str):
            counts.skipped[mapped] += 1
            return []
        out: list[Envelope] = []
        heir = _heir(mapped, legacy[0]) if legacy is not None else None
        for k, event in enumerate(mapped):
            kind = KIND_OF[type(event)]
            event.bot, event.ts = self.bot, ts
            if legacy is not None and k == heir:
                _, event.id, event.run, event.seq = legacy
                result.legacy_ids += 1
            else:
                event.id = f"gpt{_digest(self.bot, self.source, row.key, size=24)}"
                if k:
                    event.id += f"-{k}"
                event.run = self._run(name)
                event.seq = state.seq.get(name, 0) + 1
            try:
                validate(event)
            except EventError as exc:
                counts.skipped[f"invalid: {exc.reason} at {exc.field or '$'}"] += 1
                continue
            if event.run == self._runs.get(name):
                state.seq[name] = event.seq
            out.append(event)
            result.events[kind] += 1
        if out:
            counts.mapped += 1
            counts.events += len(out)
        return out

    def _run(self, name: str) -> str:
        if name not in self._runs:
            self._runs[name] = "gpt" + _digest(self.bot, self.source, name, size=13)
        return self._runs[name]

    def _v1_envelope(self, row: SourceRow) -> tuple[str, str, str, int] | None:
        """(kind, id, run, seq) the first importer gave this db row's event, if any."""
        state = self.state
        payload = _v1.loads(row.raw_payload)
        row_ts = _v1.ts_of(row.raw_ts)
        if not state.v1_run:  # as _v1 names the log: by its first record
            first = json.dumps([row.etype, row_ts, payload], sort_keys=True, default=str)
            state.v1_run = "gpt" + hashlib.sha256(f"{self.bot}\n{first}".encode()).hexdigest()[:13]
        if payload.get("__unreadable__"):
            return None
        _, event = _v1.map_row(row.etype, payload)
        if event is None:
            return None
        ts = row_ts
        if ts is None:
            metrics = payload.get("metrics") or {}
            ts = _v1.ts_of(payload.get("timestamp") or metrics.get("timestamp"))
        if ts is None or ts <= 0:
            return None
        seq = state.v1_seq + 1
        event.bot, event.run, event.seq, event.ts = self.bot, state.v1_run, seq, ts
        event.id = f"{state.v1_run}-{seq}"
        try:
            validate(event)
        except EventError:
            return None
        state.v1_seq = seq
        return _meaning(event), event.id, event.run, seq
