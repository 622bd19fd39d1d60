"""Which share of the fleet a store holds, in its file and on the wire.

Several stores share the fleet by bot (``partition`` i of ``partitions`` N), each writing
its own DuckDB file. Each says which share it holds:

- in its file: one row in ``store_partition``, written at start. A reader given several
  files (``tradewire sql --db a.duckdb --db b.duckdb``, or a directory) checks with
  :func:`check_complete` that they are the N shares of one fleet, each once: a share
  given twice would count its bots twice, a missing one would leave its bots out;
- on NATS: every store answers ``<root>.sql.partitions`` with the same row, so a client
  learns how many stores there are and where each one is; a store that is one of
  several answers queries on ``<root>.sql.partition.<i>`` only, and on ``<root>.sql``
  (where every one of them would answer, the first reply winning) with an error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import duckdb
import msgspec

from tradewire.schemas import Subjects

from ._sql import QueryError

__all__ = [
    "PARTITION_TABLE",
    "StorePartition",
    "check_complete",
    "discovery_subject",
    "partition_subject",
    "read_partition",
    "record_partition",
]

PARTITION_TABLE = "store_partition"
_DDL = f"""CREATE TABLE IF NOT EXISTS {PARTITION_TABLE} (
  root VARCHAR NOT NULL,
  partition_index INTEGER NOT NULL,
  partition_count INTEGER NOT NULL,
  stream_partitions INTEGER NOT NULL,
  recorded_at DOUBLE NOT NULL
)"""


class StorePartition(msgspec.Struct, kw_only=True):
    """The share of the fleet one store holds (``index`` of ``count``)."""

    root: str
    index: int = 0
    count: int = 1
    stream_partitions: int = 0  # the events stream's partitions (0: not split)
    db: str = ""  # the file, for messages

    @property
    def label(self) -> str:
        return f"partition {self.index} of {self.count}"


def discovery_subject(subjects: Subjects) -> str:
    """Where every store says which share it holds."""
    return f"{subjects.sql}.partitions"


def partition_subject(subjects: Subjects, index: int) -> str:
    """Where the store holding partition ``index`` answers queries (one of several)."""
    return f"{subjects.sql}.partition.{index}"


def record_partition(con: duckdb.DuckDBPyConnection, share: StorePartition, at: float) -> None:
    """Write ``share`` as the file's one row of ``store_partition``."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(_DDL)
        con.execute(f"DELETE FROM {PARTITION_TABLE}")
        con.execute(
            f"INSERT INTO {PARTITION_TABLE} VALUES (?, ?, ?, ?, ?)",
            [share.root, share.index, share.count, share.stream_partitions, at],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def read_partition(con: duckdb.DuckDBPyConnection, catalog: str, db: str) -> StorePartition | None:
    """The share the file attached as ``catalog`` holds; None for a file from before
    partitions (it holds the whole fleet)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
        [catalog, PARTITION_TABLE],
    ).fetchone()
    if not found or not found[0]:
        return None
    rows = con.execute(
        f'SELECT root, partition_index, partition_count, stream_partitions FROM "{catalog}".'
        f"main.{PARTITION_TABLE}"
    ).fetchall()
    if len(rows) != 1:
        raise QueryError(f"{db}: {PARTITION_TABLE} must hold one row, not {len(rows)}")
    root, index, count, slots = rows[0]
    return StorePartition(root=root, index=index, count=count, stream_partitions=slots, db=db)


def check_complete(shares: Sequence[StorePartition], *, partial: bool = False) -> list[str]:
    """Raise QueryError unless ``shares`` are each partition of one fleet exactly once;
    with ``partial``, missing partitions are warnings (returned) instead."""
    roots = sorted({s.root for s in shares if s.root})  # "": a file from before partitions
    if len(roots) > 1:
        raise QueryError(f"the stores belong to different fleets (roots {', '.join(roots)})")
    counts = sorted({s.count for s in shares})
    if len(counts) > 1:
        listing = "; ".join(f"{s.db}: {s.label}" for s in shares)
        raise QueryError(
            f"the stores split the fleet differently ({listing}): each count is a whole "
            "copy of the fleet's events, so query one set at a time"
        )
    seen = Counter(s.index for s in shares)
    twice = sorted(i for i, n in seen.items() if n > 1)
    if twice:
        dups = "; ".join(f"{s.db}: {s.label}" for s in shares if s.index in twice)
        raise QueryError(f"the same partition given twice, its bots would count twice: {dups}")
    count = counts[0] if counts else 1
    missing = [i for i in range(count) if i not in seen]
    if not missing:
        return []
    text = (
        f"partition {', '.join(str(i) for i in missing)} of {count} missing: the bots "
        "stored there are not in the answer"
    )
    if not partial:
        raise QueryError(f"{text}; give every partition's store (or --partial to go on)")
    return [text]
