"""Sequenced ids (``<prefix>-<n>``) are deduplicated by ranges in memory and in
``seq_ranges``: the same answers as a set of every id, across commits, rollbacks,
evictions and reopening the file."""

from __future__ import annotations

import itertools
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.store.test_writer import count, delivery, mark
from tradewire.consumers.store import StoreWriter
from tradewire.consumers.store._seqs import SEQ_ID_REGEX, SEQ_RANGES_DDL, SeqIndex, split_id
from tradewire.consumers.store._tables import EVENT_IDS_DDL
from tradewire.schemas import Ws

SPLITS = [
    ("3f9a1c-1", ("3f9a1c", 1)),
    ("a-b-12", ("a-b", 12)),
    ("-5", ("", 5)),
    ("run\n1-7", ("run\n1", 7)),
    ("r-" + "9" * 18, ("r", 10**18 - 1)),
    ("r-" + "1" * 19, None),  # past a BIGINT's 18 safe digits
    ("r-01", None),  # "r-1" is another id
    ("r-0", None),
    ("r-", None),
    ("r", None),
    ("r-+1", None),
    ("r-1_0", None),
    ("r-\u0661\u0662", None),  # Arabic-Indic digits: int() reads them as 12
    ("gpt4e1f0c9a8b7d6e5f4a3b2c1d", None),
]


@pytest.mark.parametrize(("event_id", "expected"), SPLITS)
def test_split_id(event_id: str, expected: tuple[str, int] | None) -> None:
    assert split_id(event_id) == expected
    if expected is not None:
        assert f"{expected[0]}-{expected[1]}" == event_id  # one id, one key


def test_the_migrations_regex_splits_as_split_id_does() -> None:
    con = duckdb.connect()
    for event_id, expected in SPLITS:
        row = con.execute(
            f"SELECT regexp_matches($1, '{SEQ_ID_REGEX}'), "
            f"regexp_extract($1, '{SEQ_ID_REGEX}', 1), regexp_extract($1, '{SEQ_ID_REGEX}', 2)",
            [event_id],
        ).fetchone()
        assert row is not None
        got = (row[1], int(row[2])) if row[0] else None
        assert got == expected, event_id


def index(tmp_path: Path, cache: int = 100) -> tuple[duckdb.DuckDBPyConnection, SeqIndex]:
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    con.execute(SEQ_RANGES_DDL)
    return con, SeqIndex(con, cache_prefixes=cache)


def claim(
    con: duckdb.DuckDBPyConnection, seqs: SeqIndex, ids: list[str], ok: bool = True
) -> set[str]:
    keys = [k for k in map(split_id, ids) if k is not None]
    con.execute("BEGIN TRANSACTION")
    held = seqs.claim(keys)
    if ok:
        con.execute("COMMIT")
        seqs.committed()
    else:
        con.execute("ROLLBACK")
        seqs.rolled_back()
    return held


batches = st.lists(
    st.tuples(
        st.sets(st.tuples(st.sampled_from("abc"), st.integers(1, 60)), max_size=25),
        st.booleans(),  # committed?
        st.booleans(),  # forget memory afterwards (a restart)?
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(batches=batches)
def test_same_answers_as_a_set_of_every_id(
    tmp_path_factory: pytest.TempPathFactory,
    batches: list[tuple[set[tuple[str, int]], bool, bool]],
) -> None:
    con, seqs = index(tmp_path_factory.mktemp("seqs"), cache=2)  # evicts as it goes
    stored: set[str] = set()
    for keys, ok, restart in batches:
        ids = [f"{p}-{n}" for p, n in sorted(keys, key=lambda k: (k[1] * 7) % 11)]
        assert claim(con, seqs, ids, ok) == stored & set(ids)
        if ok:
            stored |= set(ids)
        if restart:
            seqs = SeqIndex(con, cache_prefixes=2)
    # The table alone holds exactly the stored ids, as ranges that never touch.
    rows = con.execute("SELECT prefix, lo, hi FROM seq_ranges ORDER BY prefix, lo").fetchall()
    assert {f"{p}-{n}" for p, lo, hi in rows for n in range(lo, hi + 1)} == stored
    for (p1, _, hi1), (p2, lo2, _) in itertools.pairwise(rows):
        assert p1 != p2 or hi1 + 1 < lo2


def test_a_run_in_order_is_one_row_updated_in_place(tmp_path: Path) -> None:
    con, seqs = index(tmp_path)
    for start in range(1, 100, 10):
        assert claim(con, seqs, [f"run-{n}" for n in range(start, start + 10)]) == set()
    assert con.execute("SELECT * FROM seq_ranges").fetchall() == [("run", 1, 100)]
    assert claim(con, seqs, ["run-50", "run-101", "run-100"]) == {"run-50", "run-100"}
    # A hole (events retried after their successors) is filled later.
    assert claim(con, seqs, ["run-105"]) == set()
    assert con.execute("SELECT count(*) FROM seq_ranges").fetchall() == [(2,)]
    assert claim(con, seqs, ["run-103", "run-102", "run-104"]) == set()
    assert con.execute("SELECT * FROM seq_ranges").fetchall() == [("run", 1, 105)]


def test_memory_holds_the_prefixes_written_last(tmp_path: Path) -> None:
    con, seqs = index(tmp_path, cache=3)
    for p in "abcde":
        claim(con, seqs, [f"{p}-1"])
    assert len(seqs) == 3
    # Evicted prefixes are read back from the table.
    assert claim(con, seqs, ["a-1", "b-2", "e-1"]) == {"a-1", "e-1"}


def test_a_rolled_back_batch_claims_nothing(writer: StoreWriter) -> None:
    """Ids of a batch that cannot be written stay free, in memory as in the table."""
    bad = [
        (Ws(state="connected", gap_count=2**64, id=f"r-{i}", bot="b", run="r", seq=i, ts=1.0), d)
        for i, d in enumerate([delivery(1), delivery(2)], 1)
    ]
    with pytest.raises(OverflowError):
        writer.write(bad, [])
    assert count(writer, "SELECT count(*) FROM seq_ranges") == 0
    ok = [
        (Ws(state="connected", id=f"r-{i}", bot="b", run="r", seq=i, ts=1.0), delivery(i))
        for i in (1, 2)
    ]
    assert writer.write(ok, []).inserted == 2


@pytest.fixture
def writer(tmp_path: Path) -> StoreWriter:
    return StoreWriter(tmp_path / "w.duckdb")


def test_a_reopened_store_knows_what_it_holds(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    writer = StoreWriter(db)
    marks = [(mark(i), delivery(i)) for i in range(1, 101)]
    assert writer.write(marks, []).inserted == 100
    writer.close()
    writer = StoreWriter(db)
    again = writer.write([*marks[40:60], (mark(101), delivery(101))], [])
    assert (again.inserted, again.duplicates) == (1, 20)
    # An id held as another kind is still told apart from a redelivery.
    ws = Ws(state="connected", id="m-7", bot="b", run="m", seq=7, ts=1.0)
    assert writer.write([(ws, delivery(102))], []).reasons == {"duplicate_id": 1}
    assert count(writer, "SELECT count(*) FROM marks") == 101
    writer.close()


def test_event_ids_of_an_older_file_become_ranges(tmp_path: Path) -> None:
    """A file with every id in event_ids (the version before seq_ranges)."""
    db = tmp_path / "old.duckdb"
    StoreWriter(db).close()
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE seq_ranges")
    con.execute("DROP TABLE event_ids")
    con.execute(EVENT_IDS_DDL)
    ids = [f"r1-{n}" for n in (1, 2, 3, 5, 6)] + ["r2-10", "gpt9f8e", "x-01", "by-hand"]
    con.executemany("INSERT INTO event_ids VALUES (?, 'mark')", [[i] for i in ids])
    con.close()

    writer = StoreWriter(db)
    ranges = writer.con.execute("SELECT * FROM seq_ranges ORDER BY prefix, lo").fetchall()
    assert ranges == [("r1", 1, 3), ("r1", 5, 6), ("r2", 10, 10)]
    others = {r[0] for r in writer.con.execute("SELECT id FROM event_ids").fetchall()}
    assert others == {"gpt9f8e", "x-01", "by-hand"}
    batch = [(mark(n), delivery(n)) for n in range(1, 8)]
    for ev, _ in batch:
        ev.id, ev.run = f"r1-{ev.seq}", "r1"
    result = writer.write(batch, [])
    assert (result.inserted, result.duplicates) == (2, 5)  # r1-4 and r1-7 are new
    writer.close()
