"""DuckDB tables and Arrow schemas, derived from the event Structs themselves.

One table per kind: the envelope, the kind's fields (nested lists such as
``positions`` and ``issues`` as LIST(STRUCT) columns), then where the event sat
in the stream. Deriving the DDL from the schemas means a field added to an
event becomes a column (``ALTER TABLE ADD COLUMN`` at the next start) without
anyone editing SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import pyarrow as pa

from tradewire.schemas import EVENT_TYPES, KIND_OF, Envelope

__all__ = [
    "ALERTS_DDL",
    "ENVELOPE_COLUMNS",
    "EVENT_IDS_DDL",
    "QUARANTINE_DDL",
    "QUARANTINE_KEY",
    "STREAM_COLUMNS",
    "TABLES",
    "Column",
    "Table",
    "rows_to_arrow",
    "views_ddl",
]

# SQL-friendly plural names: several kind names are reserved words (order).
TABLE_NAMES = {
    "heartbeat": "heartbeats",
    "cycle": "cycles",
    "order": "orders",
    "fill": "fills",
    "broker_call": "broker_calls",
    "guard": "guards",
    "risk": "risk_snapshots",
    "account": "account_snapshots",
    "mark": "marks",
    "ws": "ws_events",
    "data_quality": "data_quality",
    "error": "errors",
    "lifecycle": "lifecycle_events",
    "health": "health_events",
    "decision": "decisions",
    "unfilled_order": "unfilled_orders",
    "stale_mark": "stale_marks",
    "guard_check": "guard_checks",
    "metric": "custom_metrics",
}
ENVELOPE_COLUMNS = ("id", "bot", "run", "seq", "ts", "v")
STREAM_COLUMNS = ("received_at", "stream_seq")


@dataclass(frozen=True)
class Column:
    name: str
    sql: str
    arrow: pa.DataType
    nested: bool = False  # a list of Structs: converted to dicts for Arrow
    mapping: bool = False  # a dict: a MAP column, fed to Arrow as (key, value) pairs


@dataclass(frozen=True)
class Table:
    kind: str
    name: str
    cls: type[Envelope]
    columns: tuple[Column, ...]

    def ddl(self) -> str:
        """No primary key: ids are unique across all kinds through ``event_ids``, one
        index for every table (an index per table too would double the cost of each
        insert). Files created before ``event_ids`` keep their ``id`` primary keys."""
        cols = []
        for c in self.columns:
            extra = " NOT NULL" if c.name in ENVELOPE_COLUMNS else ""
            cols.append(f'"{c.name}" {c.sql}{extra}')
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n  " + ",\n  ".join(cols) + "\n)"

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([(c.name, c.arrow) for c in self.columns])


# Integer columns by range, narrowest first. Every int field must be bounded (see
# tradewire.schemas._types): the decoder then refuses what the column cannot hold,
# instead of one event failing the Arrow conversion of its whole batch.
_INT_COLUMNS = (
    (-(2**31), 2**31 - 1, "INTEGER", pa.int32()),
    (-(2**63), 2**63 - 1, "BIGINT", pa.int64()),
)


def _int_column(t: msgspec.inspect.IntType) -> tuple[str, pa.DataType, bool]:
    lo = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else None)
    hi = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else None)
    if lo is None or hi is None:
        raise TypeError(f"unbounded int field {t}: give it Meta(ge=..., le=...)")
    for low, high, sql, arrow in _INT_COLUMNS:
        # Existing files have BIGINT for every bounded count; only a field this narrow
        # (``v``) is INTEGER, so deriving the type keeps every column as it was.
        if low <= lo and hi <= high:
            return sql, arrow, False
    raise TypeError(f"int field {t} does not fit a BIGINT column")


def _map(t: msgspec.inspect.Type) -> tuple[str, pa.DataType, bool]:
    """(DuckDB type, Arrow type, nested?) for a msgspec field type; a dict of strings is a
    MAP (``labels['strategy']`` in SQL)."""
    if isinstance(t, msgspec.inspect.Metadata):
        return _map(t.type)
    if isinstance(t, msgspec.inspect.UnionType):
        inner = [x for x in t.types if not isinstance(x, msgspec.inspect.NoneType)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {t}")
        return _map(inner[0])
    if isinstance(t, msgspec.inspect.FloatType):
        return "DOUBLE", pa.float64(), False
    if isinstance(t, msgspec.inspect.BoolType):
        return "BOOLEAN", pa.bool_(), False
    if isinstance(t, msgspec.inspect.IntType):
        return _int_column(t)
    if isinstance(t, msgspec.inspect.StrType | msgspec.inspect.LiteralType):
        return "VARCHAR", pa.string(), False
    if isinstance(t, msgspec.inspect.ListType) and isinstance(
        t.item_type, msgspec.inspect.StructType
    ):
        subs = [(f.name, *_map(f.type)[:2]) for f in t.item_type.fields]
        sql = "STRUCT(" + ", ".join(f'"{n}" {s}' for n, s, _ in subs) + ")[]"
        return sql, pa.list_(pa.struct([(n, a) for n, _, a in subs])), True
    if isinstance(t, msgspec.inspect.DictType):
        return "MAP(VARCHAR, VARCHAR)", pa.map_(pa.string(), pa.string()), False
    raise TypeError(f"no column type for {t}")


def _table(cls: type[Envelope]) -> Table:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    by_name = {f.name: f for f in info.fields}
    names = [*ENVELOPE_COLUMNS, *(f.name for f in info.fields if f.name not in ENVELOPE_COLUMNS)]
    columns = []
    for name in names:
        sql, arrow, nested = _map(by_name[name].type)
        columns.append(Column(name, sql, arrow, nested, mapping=sql.startswith("MAP")))
    columns += [
        Column("received_at", "DOUBLE", pa.float64()),
        Column("stream_seq", "UBIGINT", pa.uint64()),
    ]
    kind = KIND_OF[cls]
    return Table(kind, TABLE_NAMES[kind], cls, tuple(columns))


TABLES: dict[str, Table] = {KIND_OF[cls]: _table(cls) for cls in EVENT_TYPES}

# Every stored event's id and kind, whatever its table: the id is unique across kinds
# (each kind table's own primary key sees only that kind).
EVENT_IDS_DDL = """CREATE TABLE IF NOT EXISTS event_ids (
  id VARCHAR PRIMARY KEY,
  kind VARCHAR NOT NULL
)"""

# A stream sequence number alone repeats when the stream is recreated; with the time
# the server stored the message it names one message (its redeliveries included).
QUARANTINE_KEY = ("stream_seq", "received_at")
QUARANTINE_DDL = """CREATE TABLE IF NOT EXISTS quarantine (
  stream_seq UBIGINT NOT NULL,
  subject VARCHAR NOT NULL,
  received_at DOUBLE NOT NULL,
  quarantined_at DOUBLE NOT NULL,
  reason VARCHAR NOT NULL,
  field VARCHAR,
  error VARCHAR NOT NULL,
  num_delivered INTEGER,
  raw BLOB,
  PRIMARY KEY (stream_seq, received_at)
)"""

# Alert state changes (from <ROOT>_ALERTS), written by the store's second consumer.
ALERTS_DDL = """CREATE TABLE IF NOT EXISTS alerts (
  id VARCHAR PRIMARY KEY,
  bot VARCHAR NOT NULL,
  rule VARCHAR NOT NULL,
  state VARCHAR NOT NULL,
  severity VARCHAR,
  ts DOUBLE NOT NULL,
  labels JSON,
  annotations JSON,
  received_at DOUBLE,
  stream_seq UBIGINT
)"""
# Added after the first release of the table; existing files get them by ALTER TABLE.
ALERTS_ADDED = {
    "fingerprint": "VARCHAR",
    "active_since": "DOUBLE",
    "value": "DOUBLE",
    "threshold": "DOUBLE",
}


def views_ddl() -> list[str]:
    """``events`` (every stored event's envelope), ``seq_gaps`` and ``runs``."""
    union = "\nUNION ALL\n".join(
        f"SELECT '{t.kind}' AS kind, id, bot, run, seq, ts, received_at, stream_seq FROM {t.name}"
        for t in TABLES.values()
    )
    return [
        f"CREATE OR REPLACE VIEW events AS\n{union}",
        """CREATE OR REPLACE VIEW seq_gaps AS
WITH s AS (
  SELECT bot, run, seq, lag(seq) OVER (PARTITION BY bot, run ORDER BY seq) AS prev
  FROM events
)
SELECT bot, run, coalesce(prev, 0) + 1 AS first_missing, seq - 1 AS last_missing,
       seq - coalesce(prev, 0) - 1 AS missing
FROM s WHERE seq - coalesce(prev, 0) > 1""",
        """CREATE OR REPLACE VIEW runs AS
SELECT e.bot, e.run, count(*) AS events, min(e.seq) AS first_seq, max(e.seq) AS last_seq,
       max(e.seq) - count(*) AS missing, min(e.ts) AS first_ts, max(e.ts) AS last_ts
FROM events e GROUP BY e.bot, e.run""",
    ]


def rows_to_arrow(
    table: Table, events: list[Any], received: list[float], seqs: list[int]
) -> pa.Table:
    """Column-wise conversion: one ``getattr`` pass per column, no per-row dicts."""
    arrays = []
    for c in table.columns:
        if c.name == "received_at":
            values: list[Any] = received
        elif c.name == "stream_seq":
            values = seqs
        elif c.nested:
            values = [msgspec.to_builtins(getattr(e, c.name)) for e in events]
        elif c.mapping:
            values = [list(getattr(e, c.name).items()) for e in events]
        else:
            values = [getattr(e, c.name) for e in events]
        arrays.append(pa.array(values, type=c.arrow))
    return pa.Table.from_arrays(arrays, schema=table.arrow_schema())
