"""Follow a live GPT-Trader ``events.db`` and forward its new rows, exactly once.

The watermark (the last rowid whose events NATS acked) and the mapping's state are
saved together, atomically, after each acked batch. A follower killed at any point
restarts from the saved watermark and re-sends what came after it with the same ids,
which JetStream's duplicate window and the store's primary key absorb.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import msgspec

from tradewire.publisher import Publisher

from ._gpt_map import MapState
from ._gpt_trader import GptTraderImport
from ._source import db_has_type, read_events_db

__all__ = ["FollowState", "follow_events_db", "load_follow_state", "save_follow_state"]

BATCH_ROWS = 1000


class FollowState(msgspec.Struct):
    """What ``--follow`` persists between runs."""

    log: str = ""  # the key of the log's first row: which events.db this belongs to
    watermark: int = 0  # every row up to this rowid is acked
    mapping: MapState = msgspec.field(default_factory=MapState)


def load_follow_state(path: Path) -> FollowState:
    if not path.exists():
        return FollowState()
    try:
        return msgspec.json.decode(path.read_bytes(), type=FollowState)
    except msgspec.DecodeError as exc:
        raise ValueError(
            f"{path}: unreadable follow state ({exc}); move it away to start over"
        ) from None


def save_follow_state(path: Path, state: FollowState) -> None:
    """Write-then-rename, fsynced: a crash leaves the old state or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(msgspec.json.encode(state))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


async def follow_events_db(
    db: Path,
    pub: Publisher,
    state_file: Path,
    *,
    stop: asyncio.Event,
    poll_s: float = 1.0,
    flush_timeout_s: float = 30.0,
    on_batch: Callable[[GptTraderImport, int], None] | None = None,
) -> GptTraderImport:
    """Forward rows past the saved watermark until ``stop`` is set; returns the importer."""
    state = load_follow_state(state_file)
    first = next(read_events_db(db, limit=1), None)
    if state.log and first is not None and first.key != state.log:
        raise ValueError(
            f"{state_file} follows another events.db (its first row differs); "
            "pass another --state-file to follow this one"
        )
    if not state.log and state.watermark == 0:
        state.mapping.fills_from_fill_rows = db_has_type(db, "fill")
    importer = GptTraderImport(pub.bot, "db", state=state.mapping)
    pending = state.watermark
    while not stop.is_set():
        rows = list(read_events_db(db, after=pending, limit=BATCH_ROWS))
        for row in rows:
            for event in importer.row_events(row):
                pub.forward(event)
        if rows:
            pending = rows[-1].position
            if not state.log:  # the log was empty when we started: rows[0] is its first
                state.log = (first or rows[0]).key
        if pending > state.watermark and await pub.flush(flush_timeout_s):
            state.watermark = pending
            save_follow_state(state_file, state)
            if on_batch is not None:
                on_batch(importer, state.watermark)
        if len(rows) < BATCH_ROWS:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)
    return importer
