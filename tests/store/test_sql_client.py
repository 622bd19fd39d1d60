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
    assert table.endswith("(2 rows, more rows match)\n")
    assert format_result(r, "csv") == 'bot,n\r\nb1,3\r\n"b,2",\r\n'
    multi = QueryResult(columns=["m"], types=["VARCHAR"], rows=[["a\nb\tc é"]])
    assert format_result(multi, "table").splitlines()[2] == "a\\nb\\tc é"  # one line a row
    assert json.loads(format_result(r, "json")) == [
        {"bot": "b1", "n": 3},
        {"bot": "b,2", "n": None},
    ]


def test_cli_sql_errors_exit_2(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "DROP TABLE marks", "--db", str(db)]) == 2
    assert "read-only" in capsys.readouterr().err
    assert main(["sql", "SELECT 1", "--db", str(db.with_name("none.duckdb"))]) == 2
    assert "none.duckdb: no such file" in capsys.readouterr().err
    assert main(["sql", "SELECT 1", "--db", str(db), "--limit", "0"]) == 2
    assert "--limit must be between 1 and 100,000" in capsys.readouterr().err


def test_a_named_db_that_does_not_exist_never_falls_back_to_the_store(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRADEWIRE_NATS_URL", "nats://127.0.0.1:1")
    assert main(["sql", "SELECT 1", "--db", str(db.with_name("typo.duckdb"))]) == 2
    err = capsys.readouterr().err
    assert "typo.duckdb: no such file" in err and "127.0.0.1:1" not in err
    # Only the default file falls back (here to the URL, which is not there: one line).
    monkeypatch.chdir(db.parent)
    assert main(["sql", "SELECT 1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach NATS at nats://127.0.0.1:1" in err


def test_numbers_print_in_full(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    sql = (
        "SELECT 1234567.891::DOUBLE AS x, 1795330000.123456::DOUBLE AS ts,"
        " 0.1::DOUBLE + 0.2::DOUBLE AS sum, 2::DOUBLE AS two"
    )
    for fmt in ("table", "csv"):
        assert main(["sql", sql, "--db", str(db), "--format", fmt]) == 0
        out = capsys.readouterr().out
        for text in ("1234567.891", "1795330000.123456", "0.30000000000000004", "2.0"):
            assert text in out, (fmt, out)
        assert "e+" not in out
    assert main(["sql", sql, "--db", str(db), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"x": 1234567.891, "ts": 1795330000.123456, "sum": 0.1 + 0.2, "two": 2.0}
    ]


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_rows_left_out_are_said_and_exit_3(
    db: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    argv = ["sql", "SELECT symbol FROM marks ORDER BY seq", "--db", str(db), "--format", fmt]
    assert main([*argv, "--limit", "1"]) == 3
    out, err = capsys.readouterr()
    assert "BTC-USD" in out and "ETH-USD" not in out
    assert err == "tradewire sql: stopped at 1 rows (--limit); more rows match\n"
    assert main([*argv, "--limit", "2"]) == 0  # all of them: no note
    assert capsys.readouterr().err == ""


async def test_timestamps_with_a_time_zone_come_back_in_utc(db: Path) -> None:
    result, _ = await query(
        "SELECT to_timestamp(ts) AS t, ts FROM marks ORDER BY seq",
        db=db,
        url=None,
        subjects=Subjects(),
    )
    assert result.rows == [["1970-01-01T00:00:01Z", 1.0], ["1970-01-01T00:00:02Z", 2.0]]


@pytest.mark.nats
async def test_held_file_goes_through_the_store(store: RunningStore) -> None:
    with pytest.raises(QueryError, match="held by a running store"):
        await query("SELECT 1", db=store.db, url=None, subjects=Subjects())
    result, where = await query(
        "SELECT (SELECT count(*) FROM marks) AS n, to_timestamp(1795330000.5) AS t",
        db=store.db,
        url=store.service.config.nats_url,
        subjects=Subjects(),
    )
    assert where == "store" and result.rows == [[0, "2026-11-22T06:46:40.500000Z"]]
