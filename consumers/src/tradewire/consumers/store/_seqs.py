"""Which sequenced event ids the store holds: ranges of numbers per id prefix.

The publisher stamps ids ``<run>-<seq>`` with seq 1, 2, 3 ... per run, so the ids of one
run that a store holds are one range ``lo..hi``, or a few when events came out of order
(a retry after its successors, an outbox replayed later). Those ranges live in the table
``seq_ranges`` (every prefix ever stored; written in the batch's own transaction) and in
memory (the prefixes seen lately): telling whether such an id is stored costs a dict
lookup and an integer compare instead of an insert into a primary-key index (measured:
writing cost 1.25-1.56x the CPU of a plain append with the key, 1.01-1.32x with ranges;
``docs/store.md``).

Which index decides an id depends on the id alone, so one id can never be stored by both:
an id that splits as ``<prefix>-<n>`` (see :func:`split_id`) is decided here, whatever
the event's ``run`` and ``seq`` fields say; any other id in ``event_ids``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

import duckdb
import pyarrow as pa

__all__ = ["SEQ_ID_REGEX", "SEQ_RANGES_DDL", "SeqIndex", "split_id"]

SEQ_RANGES_DDL = """CREATE TABLE IF NOT EXISTS seq_ranges (
  prefix VARCHAR NOT NULL,
  lo BIGINT NOT NULL,
  hi BIGINT NOT NULL
)"""

# What split_id accepts, for SQL (RE2): the last '-', then 1-18 ASCII digits without a
# leading zero (so the number's text is the id's text, and it fits a BIGINT).
SEQ_ID_REGEX = r"(?s)^(.*)-([1-9][0-9]{0,17})$"
_MAX_DIGITS = 18
_PAST = 1 << 64  # sorts after every hi

Ranges = list[tuple[int, int]]  # sorted, disjoint, never adjacent


def split_id(event_id: str) -> tuple[str, int] | None:
    """``(prefix, n)`` for an id ``<prefix>-<n>``, else None. The mapping is one to one:
    ``f"{prefix}-{n}"`` gives the id back (no '+', no leading zero, no non-ASCII digit)."""
    prefix, dash, digits = event_id.rpartition("-")
    if (
        dash
        and 0 < len(digits) <= _MAX_DIGITS
        and digits.isascii()
        and digits.isdigit()
        and digits[0] != "0"
    ):
        return prefix, int(digits)
    return None


class SeqIndex:
    """The ranges of the ids held, over the writer's connection (its lock held).

    :meth:`claim` runs inside the writer's transaction and writes ``seq_ranges`` there;
    memory follows only once :meth:`committed` is called after COMMIT. After a failed
    transaction, :meth:`rolled_back` drops the prefixes it touched from memory, so they
    are read again from the table (the truth) when next seen.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, cache_prefixes: int = 100_000) -> None:
        self.con = con
        self.cache_prefixes = cache_prefixes
        # In least recently written order (dicts keep insertion order): evicted from the
        # front; an evicted prefix is read back from seq_ranges when it comes again.
        self._ranges: dict[str, Ranges] = {}
        self._touched: set[str] = set()  # by the open transaction

    def claim(self, keys: Iterable[tuple[str, int]]) -> set[str]:
        """Record the (distinct) keys as stored; return the ids of those held already."""
        by_prefix: dict[str, list[int]] = {}
        for prefix, n in keys:
            ns = by_prefix.get(prefix)
            if ns is None:
                by_prefix[prefix] = [n]
            else:
                ns.append(n)
        self._load([p for p in by_prefix if p not in self._ranges])
        held: set[str] = set()
        changed: dict[str, Ranges] = {}
        for prefix, ns in by_prefix.items():
            before = self._ranges[prefix]
            after, dup = _add(before, ns)
            if dup:
                held.update(f"{prefix}-{n}" for n in dup)
            if after is not before:
                changed[prefix] = after
        self._persist(changed)
        return held

    def committed(self) -> None:
        """The transaction committed: what it wrote is what memory holds from now on."""
        touched, self._touched = self._touched, set()
        ranges = self._ranges
        for prefix in touched:  # most recently written last
            ranges[prefix] = ranges.pop(prefix)
        while len(ranges) > self.cache_prefixes:
            del ranges[next(iter(ranges))]

    def rolled_back(self) -> None:
        touched, self._touched = self._touched, set()
        for prefix in touched:
            self._ranges.pop(prefix, None)

    def forget(self) -> None:
        """Drop every range from memory (the table keeps them)."""
        self._ranges.clear()

    def __len__(self) -> int:
        """Prefixes held in memory."""
        return len(self._ranges)

    def _load(self, prefixes: list[str]) -> None:
        if not prefixes:
            return
        for prefix in prefixes:
            self._ranges[prefix] = []
        view = "_seq_prefixes"
        self.con.register(view, pa.table({"prefix": prefixes}))
        try:
            rows = self.con.execute(
                f"SELECT prefix, lo, hi FROM seq_ranges WHERE prefix IN (SELECT prefix FROM {view})"
                " ORDER BY prefix, lo"
            ).fetchall()
        finally:
            self.con.unregister(view)
        for prefix, lo, hi in rows:
            self._ranges[prefix].append((lo, hi))

    def _persist(self, changed: dict[str, Ranges]) -> None:
        """Write what changed since the transaction began: a range whose start stayed and
        end moved (the common case: a run went on) is an UPDATE, a new one an INSERT, one
        merged into another a DELETE."""
        updates: list[tuple[str, int, int]] = []
        deletes: list[tuple[str, int, int]] = []
        inserts: list[tuple[str, int, int]] = []
        for prefix, after in changed.items():
            before = self._ranges[prefix]
            gone = set(before).difference(after)
            added = dict(set(after).difference(before))
            for lo, hi in gone:
                if lo in added:
                    updates.append((prefix, lo, added.pop(lo)))
                else:
                    deletes.append((prefix, lo, hi))
            inserts += [(prefix, lo, hi) for lo, hi in added.items()]
        for rows, sql in (
            (
                deletes,
                "DELETE FROM seq_ranges USING {v} v WHERE seq_ranges.prefix = v.prefix "
                "AND seq_ranges.lo = v.lo",
            ),
            (
                updates,
                "UPDATE seq_ranges SET hi = v.hi FROM {v} v WHERE seq_ranges.prefix = "
                "v.prefix AND seq_ranges.lo = v.lo",
            ),
            (inserts, "INSERT INTO seq_ranges SELECT prefix, lo, hi FROM {v}"),
        ):
            if rows:
                self._execute(sql, rows)
        # Held from now on, so a further claim in this transaction sees it; undone by
        # rolled_back() if the transaction fails.
        self._ranges.update(changed)
        self._touched.update(changed)

    def _execute(self, sql: str, rows: list[tuple[str, int, int]]) -> None:
        view = "_seq_rows"
        prefixes, los, his = zip(*rows, strict=True)
        self.con.register(
            view,
            pa.table(
                {
                    "prefix": pa.array(prefixes, pa.string()),
                    "lo": pa.array(los, pa.int64()),
                    "hi": pa.array(his, pa.int64()),
                }
            ),
        )
        try:
            self.con.execute(sql.format(v=view))
        finally:
            self.con.unregister(view)


def _add(ranges: Ranges, ns: list[int]) -> tuple[Ranges, list[int]]:
    """``ranges`` with the distinct numbers ``ns`` added (the same object if none is
    new), and the numbers of ``ns`` it held already."""
    lo, hi = min(ns), max(ns)
    last = ranges[-1][1] if ranges else 0
    if hi - lo == len(ns) - 1 and last < lo:  # the run's next block, after all it holds
        if ranges and last + 1 == lo:
            return [*ranges[:-1], (ranges[-1][0], hi)], []
        return [*ranges, (lo, hi)], []
    dup: list[int] = []
    fresh: list[tuple[int, int]] = []
    for n in sorted(ns):
        i = bisect_right(ranges, (n, _PAST)) - 1  # the last range starting at or before n
        if i >= 0 and ranges[i][1] >= n:
            dup.append(n)
        else:
            fresh.append((n, n))
    if not fresh:
        return ranges, dup
    merged: Ranges = []
    for a, b in sorted([*ranges, *fresh]):
        if merged and merged[-1][1] + 1 >= a:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged, dup
