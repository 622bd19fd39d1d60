"""``tradewire sql``: read-only locally, through the store while it runs, and its output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunningStore
from tradewire.consumers.cli import main
from tradewire.consumers.sql_client import format_result, query
from tradewire.consumers.store import QueryError, QueryResult, StoreWriter
from tradewire.schemas import Subjects


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "f.duckdb"
    writer = StoreWriter(path)
    writer.con.execute(
        "INSERT INTO marks (id, bot, run, seq, ts, v, symbol, price) VALUES "
        "('a-1', 'b1', 'a', 1, 1.0, 1, 'BTC-USD', 10.5), "
        "('a-2', 'b1', 'a', 2, 2.0, 1, 'ETH-USD', 2.25)"
    )
    writer.close()
    return path


async def test_local_read_only_query(db: Path) -> None:
    result, where = await query(
        "SELECT symbol, price FROM marks ORDER BY seq", db=db, url=None, subjects=Subjects()
    )
    assert where == "local"
    assert result.rows == [["BTC-USD", 10.5], ["ETH-USD", 2.25]]


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM marks",
        "SELECT * FROM read_csv('/etc/passwd')",
        "ATTACH 'x.duckdb'",
        "COPY marks TO 'out.csv'",
    ],
)
async def test_local_refuses_writes_and_files(db: Path, sql: str) -> None:
    with pytest.raises(QueryError):
        await query(sql, db=db, url=None, subjects=Subjects())
    result, _ = await query("SELECT count(*) FROM marks", db=db, url=None, subjects=Subjects())
    assert result.rows == [[2]]


def test_output_formats() -> None:
    r = QueryResult(
        columns=["bot", "n"],
        types=["VARCHAR", "BIGINT"],
        rows=[["b1", 3], ["b,2", None]],
        truncated=True,
    )
    table = format_result(r, "table")
    assert table.splitlines()[0].split("|")[0].strip() == "bot"
    assert "truncated" in table
    assert format_result(r, "csv") == 'bot,n\r\nb1,3\r\n"b,2",\r\n'
    assert json.loads(format_result(r, "json")) == [
        {"bot": "b1", "n": 3},
        {"bot": "b,2", "n": None},
    ]


def test_cli_sql_errors_exit_2(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "DROP TABLE marks", "--db", str(db)]) == 2
    assert "read-only" in capsys.readouterr().err
    assert main(["sql", "SELECT 1", "--db", str(db.with_name("none.duckdb"))]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.nats
async def test_held_file_goes_through_the_store(store: RunningStore) -> None:
    with pytest.raises(QueryError, match="held by a running store"):
        await query("SELECT 1", db=store.db, url=None, subjects=Subjects())
    result, where = await query(
        "SELECT count(*) AS n FROM marks",
        db=store.db,
        url=store.service.config.nats_url,
        subjects=Subjects(),
    )
    assert where == "store" and result.rows == [[0]]
