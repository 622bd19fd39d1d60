"""Reading GPT-Trader's logs: ``events.db`` rows and ``events.jsonl`` lines as :class:`SourceRow`.

A row keeps what identifies it (its rowid or line number and a hash of its own bytes),
so event ids derived from it do not move when the mapping changes. Timestamps are parsed
here, always to seconds since the epoch in UTC, never through the host's time zone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SourceRow",
    "count_db_rows",
    "db_has_type",
    "parse_ts",
    "payload_ts",
    "read_events_db",
    "read_events_jsonl",
]


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One record of the log, before mapping."""

    position: int  # rowid in events.db, line number (1-based) in a JSONL file
    key: str  # position + a hash of the record's bytes: the event ids' seed
    etype: str  # GPT-Trader's event_type ("" when unreadable)
    payload: dict[str, Any] | None  # None: not a JSON object
    ts: float | None  # the time outside the payload: the SQLite column, a line's time
    raw_ts: Any = None  # the SQLite column as stored (the first importer's ids use it)
    raw_payload: str = ""  # the payload text as stored (idem)


def parse_ts(value: Any) -> float | None:
    """Seconds since the epoch (UTC) from a number, an ISO 8601 string or SQLite's
    ``YYYY-MM-DD HH:MM:SS``. A string without an offset is UTC, as GPT-Trader writes
    it (``datetime('now','utc')``, ``datetime.utcnow()``); the host's zone is never used."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return parsed.timestamp()
    else:
        return None
    if not math.isfinite(seconds) or seconds <= 0 or seconds > 1e13:  # NaN, unset, absurd
        return None
    return seconds / 1000.0 if seconds > 1e11 else seconds  # milliseconds, by size


def payload_ts(payload: dict[str, Any]) -> float | None:
    """The time the bot put in the payload (or in a ``metric`` row's ``metrics``)."""
    ts = parse_ts(payload.get("timestamp"))
    if ts is None and isinstance(payload.get("metrics"), dict):
        ts = parse_ts(payload["metrics"].get("timestamp"))
    return ts


def _key(position: int, *parts: object) -> str:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:16]
    return f"{position}:{digest}"


def _object(text: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if isinstance(text, str | bytes) else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _connect(path: Path) -> sqlite3.Connection:
    # Read-only, and never a journal of our own: the bot may be writing (WAL).
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)


def read_events_db(path: Path, *, after: int = 0, limit: int | None = None) -> Iterator[SourceRow]:
    """Rows of GPT-Trader's ``events`` table with ``id > after``, in id order.

    Reads in chunks of short transactions, so a live bot's WAL can still checkpoint.
    """
    con = _connect(path)
    try:
        left = limit
        while left is None or left > 0:
            chunk = 2000 if left is None else min(left, 2000)
            rows = con.execute(
                "SELECT id, timestamp, event_type, payload FROM events WHERE id > ?"
                " ORDER BY id LIMIT ?",
                (after, chunk),
            ).fetchall()
            for rowid, ts, etype, payload in rows:
                text = payload if isinstance(payload, str) else str(payload)
                yield SourceRow(
                    position=rowid,
                    key=_key(rowid, ts, etype, text),
                    etype=str(etype or ""),
                    payload=_object(text),
                    ts=parse_ts(ts),
                    raw_ts=ts,
                    raw_payload=text,
                )
            if len(rows) < chunk:
                return
            after = rows[-1][0]
            if left is not None:
                left -= len(rows)
    finally:
        con.close()


def count_db_rows(path: Path, after: int = 0) -> int:
    con = _connect(path)
    try:
        return int(con.execute("SELECT count(*) FROM events WHERE id > ?", (after,)).fetchone()[0])
    finally:
        con.close()


def db_has_type(path: Path, etype: str) -> bool:
    """Whether the log holds a row of this type (uses GPT-Trader's event_type index)."""
    con = _connect(path)
    try:
        row = con.execute("SELECT 1 FROM events WHERE event_type = ? LIMIT 1", (etype,))
        return row.fetchone() is not None
    finally:
        con.close()


def read_events_jsonl(path: Path) -> Iterator[SourceRow]:
    """Lines of any of GPT-Trader's JSONL shapes (docs/importers.md, "JSONL"):

    - bot_v2's flat lines ``{"type", "bot_id", ..., "time"}`` (``time`` naive UTC);
    - ``{"type", "data"}`` dumps of ``EventStore`` records (time only inside ``data``);
    - the report's fallback lines, flat with ``event_type``/``type`` and ``timestamp``,
      or ``{"event_type", "payload", "timestamp"}``.
    """
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            key = _key(number, line)
            obj = _object(line)
            if obj is None:
                yield SourceRow(number, key, "", None, None)
                continue
            # `type` first, as GPT-Trader's report reads them: a flat metric line may
            # carry its subtype in `event_type`.
            etype = str(obj.get("type") or obj.get("event_type") or "")
            outer_ts = parse_ts(obj.get("timestamp")) or parse_ts(obj.get("time"))
            for wrapper in ("data", "payload"):
                if isinstance(obj.get(wrapper), dict):
                    yield SourceRow(number, key, etype, obj[wrapper], outer_ts)
                    break
            else:  # flat: the line is the payload
                # Drop the keys that named the row; a metric's own `event_type` stays.
                named = {"type", "time"} if obj.get("type") else {"event_type", "time"}
                flat = {k: v for k, v in obj.items() if k not in named}
                if etype == "metric" and not isinstance(flat.get("metrics"), dict):
                    flat = {"bot_id": flat.get("bot_id"), "metrics": flat}
                yield SourceRow(number, key, etype, flat, outer_ts)
