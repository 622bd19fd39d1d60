"""Several stores' DuckDB files read as one store: ATTACH read-only, and views over them.

Each of N stores writes its own file, holding its share of the fleet's bots (see
``_partition``). A reader attaches every file read-only to an in-memory database and
creates, under each table's name, a view of the table's rows in all files (``UNION ALL
BY NAME``: a file of an older version, missing a column, gives NULLs for it). The
store's own views (``events``, ``seq_gaps``, ``runs``) are created again from their
definitions, so they read the union too: a count over ``events`` counts the fleet.
``store_partitions`` lists which file holds which partition.

The union is exact because every bot is in one file only: before any view is made, the
files' ``store_partition`` rows are checked to be the partitions of one fleet, each once.
Then file access is switched off and the configuration locked, as for a single file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from ._partition import PARTITION_TABLE, StorePartition, check_complete, read_partition
from ._sql import QueryError

__all__ = ["PARTITIONS_VIEW", "open_files", "store_files"]

PARTITIONS_VIEW = "store_partitions"


def store_files(paths: Sequence[Path]) -> list[Path]:
    """The files ``paths`` name: a directory stands for every ``*.duckdb`` in it."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.duckdb"))
            if not found:
                raise QueryError(f"{path}: no *.duckdb file in this directory")
            out += found
        elif path.exists():
            out.append(path)
        else:
            raise QueryError(f"{path}: no such file")
    if len({p.resolve() for p in out}) != len(out):
        raise QueryError("the same file is given twice: its rows would count twice")
    return out


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def open_files(
    paths: Sequence[Path], *, partial: bool = False
) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """An in-memory connection where the files read as one store, and warnings (a
    missing partition, with ``partial``). A file another process writes to raises
    QueryError (DuckDB lets no one read a file while a store writes it)."""
    con = duckdb.connect(
        ":memory:",
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    try:
        shares = [_attach(con, f"p{i}", path) for i, path in enumerate(paths)]
        warnings = check_complete(shares, partial=partial)
        catalogs = [f"p{i}" for i in sorted(range(len(paths)), key=lambda i: shares[i].index)]
        _union_tables(con, catalogs)
        _recreate_views(con, catalogs[0])
        rows = ", ".join(
            f"({s.index}, {s.count}, {s.stream_partitions}, {_quote(str(p))})"
            for s, p in zip(shares, paths, strict=True)
        )
        con.execute(
            f"CREATE VIEW {PARTITIONS_VIEW} AS SELECT * FROM (VALUES {rows}) "
            "AS t(partition_index, partition_count, stream_partitions, file)"
        )
        # From here on the connection runs operators' SQL: no files, no network, no SET.
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con, warnings


def _attach(con: duckdb.DuckDBPyConnection, catalog: str, path: Path) -> StorePartition:
    try:
        con.execute(f"ATTACH {_quote(str(path))} AS {catalog} (READ_ONLY)")
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise QueryError(
                f"{path} is held by a running store: query the running stores over NATS "
                "(leave out --db), or stop them"
            ) from None
        raise QueryError(f"cannot open {path}: {exc}") from None
    except duckdb.Error as exc:
        raise QueryError(f"cannot open {path}: {exc}") from None
    share = read_partition(con, catalog, path.name)
    return share or StorePartition(root="", db=path.name)  # a file from before: 0 of 1


def _union_tables(con: duckdb.DuckDBPyConnection, catalogs: list[str]) -> None:
    have: dict[str, list[str]] = {}
    for catalog in catalogs:
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
            "AND schema_name = 'main' ORDER BY table_oid",
            [catalog],
        ).fetchall():
            if name != PARTITION_TABLE:
                have.setdefault(name, []).append(catalog)
    for name, where in have.items():
        union = " UNION ALL BY NAME ".join(f"SELECT * FROM {c}.main.{_ident(name)}" for c in where)
        con.execute(f"CREATE VIEW {_ident(name)} AS {union}")


def _recreate_views(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """The store's views, defined again over the union (those of partition 0's file)."""
    for (sql,) in con.execute(
        "SELECT sql FROM duckdb_views() WHERE database_name = ? AND schema_name = 'main' "
        "AND NOT internal ORDER BY view_oid",
        [catalog],
    ).fetchall():
        con.execute(sql)
