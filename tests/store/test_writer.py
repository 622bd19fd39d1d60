"""The writer alone (no NATS): one bad row never costs its neighbours, one id is one
event across kinds, quarantine keys survive a recreated stream, old files migrate."""

from __future__ import annotations

from pathlib import Path

import duckdb
import msgspec
import pytest

from tradewire.consumers.runtime import Delivery
from tradewire.consumers.store import StoreWriter
from tradewire.consumers.store._tables import TABLES, _int_column
from tradewire.schemas import Envelope, EventError, Mark, Order, Ws

T = 1_800_000_000.0


def delivery(seq: int, *, at: float = T, subject: str = "tradewire.evt.b.mark") -> Delivery:
    return Delivery(subject, b"{}", "", seq, 1, int(at * 1e9), 0)


def mark(i: int, bot: str = "b") -> Mark:
    return Mark(symbol="X", price=1.0, id=f"m-{i}", bot=bot, run="r", seq=i, ts=T)


def order(event_id: str, seq: int, retries: int = 0) -> Order:
    ev = Order(symbol="X", side="buy", status="filled", qty=1.0, retries=retries)
    ev.id, ev.bot, ev.run, ev.seq, ev.ts = event_id, "b", "r", seq, T
    return ev


def count(writer: StoreWriter, sql: str) -> object:
    row = writer.con.execute(sql).fetchone()
    return row[0] if row else None


@pytest.fixture
def writer(tmp_path: Path) -> StoreWriter:
    return StoreWriter(tmp_path / "w.duckdb")


def test_an_unstorable_event_is_quarantined_alone(writer: StoreWriter) -> None:
    """The decoder bounds every int; built in Python an event can still hold what no
    column does. Only that one is refused, its neighbours in the batch are stored."""
    bad = order("o-bad", 1, retries=2**64)
    events: list[tuple[Envelope, Delivery]] = [(mark(i), delivery(i)) for i in range(1, 41)]
    events.insert(17, (bad, delivery(100)))
    result = writer.write(events, [(delivery(200), EventError("malformed", "x"))])
    assert result.inserted == 40
    assert result.reasons == {"unstorable": 1, "malformed": 1}
    assert count(writer, "SELECT count(*) FROM marks") == 40
    assert count(writer, "SELECT count(*) FROM orders") == 0
    row = writer.con.execute(
        "SELECT reason, error FROM quarantine WHERE stream_seq = 100"
    ).fetchone()
    assert row is not None and row[0] == "unstorable" and "Overflow" in str(row[1])
    assert count(writer, "SELECT count(*) FROM quarantine") == 2


def test_a_batch_nothing_of_which_can_be_written_raises(writer: StoreWriter) -> None:
    """Then it is the store's problem, not the messages': nothing is stored or acked."""
    bad = [
        (Ws(state="connected", gap_count=2**64, id=f"w{i}", bot="b", run="r", seq=i, ts=T), d)
        for i, d in enumerate([delivery(1), delivery(2)], 1)
    ]
    with pytest.raises(OverflowError):
        writer.write(bad, [])
    assert count(writer, "SELECT count(*) FROM quarantine") == 0
    assert count(writer, "SELECT count(*) FROM event_ids") == 0


def test_one_id_is_one_event_across_kinds(writer: StoreWriter) -> None:
    # In one batch: the first (in stream order) is kept, the other kind is refused.
    result = writer.write([(mark(1), delivery(1)), (order("m-1", 9), delivery(2))], [])
    assert (result.inserted, result.reasons) == (1, {"duplicate_id": 1})
    # In a later batch: the id is already stored as a mark.
    result = writer.write([(order("m-1", 10), delivery(3)), (mark(2), delivery(4))], [])
    assert (result.inserted, result.reasons) == (1, {"duplicate_id": 1})
    assert count(writer, "SELECT count(*) FROM events WHERE id = 'm-1'") == 1
    assert count(writer, "SELECT count(*) FROM orders") == 0
    rows = writer.con.execute(
        "SELECT stream_seq, reason, field, error FROM quarantine ORDER BY stream_seq"
    ).fetchall()
    assert [(int(r[0]), r[1], r[2]) for r in rows] == [
        (2, "duplicate_id", "$.id"),
        (3, "duplicate_id", "$.id"),
    ]
    assert "already a mark event" in rows[0][3]
    # The same id and kind again is a redelivery: skipped, not quarantined.
    result = writer.write([(mark(1), delivery(1)), (mark(2), delivery(4))], [])
    assert (result.inserted, result.duplicates, result.reasons) == (0, 2, {})


def test_quarantine_key_tells_a_recreated_streams_messages_apart(writer: StoreWriter) -> None:
    """stream_seq restarts at 1 when the stream is recreated; the receive time differs."""
    old = [(delivery(s, at=T), EventError("malformed", "x")) for s in (1, 2)]
    new = [(delivery(s, at=T + 3600), EventError("malformed", "y")) for s in (1, 2)]
    assert writer.write([], old).quarantined == 2
    assert writer.write([], new).quarantined == 2
    assert writer.write([], old + new).quarantined == 0  # redeliveries: stored once
    assert count(writer, "SELECT count(*) FROM quarantine") == 4


# The quarantine table as every file created before the key change has it.
QUARANTINE_V1 = """CREATE TABLE quarantine (
  stream_seq UBIGINT PRIMARY KEY,
  subject VARCHAR NOT NULL,
  received_at DOUBLE,
  quarantined_at DOUBLE NOT NULL,
  reason VARCHAR NOT NULL,
  field VARCHAR,
  error VARCHAR NOT NULL,
  num_delivered INTEGER,
  raw BLOB
)"""


def test_a_file_from_before_migrates(tmp_path: Path) -> None:
    """Kind tables keyed by id, the old quarantine key and no event_ids; an id already
    stored under two kinds keeps both rows, the earlier one owning the id."""
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    for table in TABLES.values():  # the columns are today's; the id was the primary key
        con.execute(table.ddl().replace('"id" VARCHAR NOT NULL', '"id" VARCHAR PRIMARY KEY'))
    con.execute(QUARANTINE_V1)
    con.execute(
        "INSERT INTO quarantine VALUES (7, 's', 1.5, 2.0, 'malformed', NULL, 'e', 1, 'x'::BLOB),"
        " (8, 's', 1.6, 2.0, 'invalid', '$.price', 'e', 2, NULL)"
    )
    con.execute(
        "INSERT INTO marks (id, bot, run, seq, ts, v, symbol, price, stream_seq) VALUES"
        " ('a', 'b', 'r', 1, 1, 1, 'X', 1, 10), ('dup', 'b', 'r', 2, 1, 1, 'X', 1, 11),"
        " ('by-hand', 'b', 'r', 3, 1, 1, 'X', 1, NULL)"
    )
    con.execute(
        "INSERT INTO orders (id, bot, run, seq, ts, v, symbol, side, status, qty, stream_seq)"
        " VALUES ('dup', 'b', 'r', 3, 1, 1, 'X', 'buy', 'filled', 1, 5)"
    )
    con.close()

    writer = StoreWriter(db)
    keys = writer.con.execute(
        "SELECT constraint_column_names FROM duckdb_constraints() "
        "WHERE table_name = 'quarantine' AND constraint_type = 'PRIMARY KEY'"
    ).fetchall()
    assert keys == [(["stream_seq", "received_at"],)]
    rows = writer.con.execute(
        "SELECT stream_seq, received_at, reason, field, num_delivered, raw FROM quarantine "
        "ORDER BY stream_seq"
    ).fetchall()
    assert rows == [(7, 1.5, "malformed", None, 1, b"x"), (8, 1.6, "invalid", "$.price", 2, None)]
    ids = dict(writer.con.execute("SELECT id, kind FROM event_ids").fetchall())
    assert ids == {"a": "mark", "dup": "order", "by-hand": "mark"}  # order: stream_seq 5
    # New writes see the migrated ids and the migrated quarantine keys.
    result = writer.write(
        [
            (msgspec.structs.replace(mark(1), id="a"), delivery(10)),
            (msgspec.structs.replace(mark(3), id="dup"), delivery(12)),
        ],
        [(Delivery("s", b"", "", 7, 3, int(1.5e9), 0), EventError("malformed", "again"))],
    )
    assert (result.inserted, result.duplicates, result.quarantined) == (0, 1, 1)
    assert result.reasons == {"duplicate_id": 1, "malformed": 1}
    # An old table's own key still skips an id event_ids lacks (written by an old version).
    writer.con.execute("DELETE FROM event_ids WHERE id = 'a'")
    result = writer.write([(msgspec.structs.replace(mark(1), id="a"), delivery(10))], [])
    assert (result.inserted, result.duplicates) == (0, 1)
    writer.close()
    StoreWriter(db).close()  # a second start finds nothing left to migrate


def test_an_unbounded_int_field_has_no_column() -> None:
    """A future int field without bounds fails at import, not in a batch at run time."""

    class Loose(msgspec.Struct):
        n: int

    info = msgspec.inspect.type_info(Loose)
    assert isinstance(info, msgspec.inspect.StructType)
    field_type = info.fields[0].type
    assert isinstance(field_type, msgspec.inspect.IntType)
    with pytest.raises(TypeError, match="unbounded"):
        _int_column(field_type)
