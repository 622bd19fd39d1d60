"""SQL through the running store cannot write, cannot reach the host, and stops on time.

The corpus (tests/store/sql_corpus.py) goes through a real store over a real
nats-server; the store's files must come out byte for byte as they went in.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

import duckdb
import pytest
from nats.aio.client import Client

from tests.conftest import RunningStore
from tests.store.sql_corpus import ALLOWED, CORPUS
from tests.waiting import wait_until
from tradewire.consumers.cli import main
from tradewire.consumers.sql_client import open_store
from tradewire.consumers.store import QueryError, StoreWriter, check_read_only, run_query
from tradewire.consumers.store import _responder as responder
from tradewire.schemas import Mark, Subjects, encode

SLOW = "SELECT count(*) FROM range(1000000) a, range(1000000) b"  # 10^12 rows: never ends


def test_the_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 25 and len({name for name, _ in CORPUS}) == len(CORPUS)


@pytest.fixture
def writer(tmp_path: Path) -> StoreWriter:
    w = StoreWriter(tmp_path / "s.duckdb")
    w.con.execute("CREATE SEQUENCE seq")
    w.con.execute(
        "INSERT INTO marks (id, bot, run, seq, ts, v, symbol, price)"
        " VALUES ('a-1', 'b1', 'a', 1, 1.0, 1, 'S', 1.5)"
    )
    return w


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> StoreWriter:
    """The store's tables, for checks that run nothing (shared: they change nothing)."""
    w = StoreWriter(tmp_path_factory.mktemp("schema") / "s.duckdb")
    w.con.execute("CREATE SEQUENCE seq")
    return w


# DuckDB 2.0 parses every case, and the check names what it refused; an older DuckDB
# cannot parse some (no data-modifying CTEs, no MERGE) and refuses them as such.
REFUSED = r"^(read-only|cannot parse): "


@pytest.mark.parametrize(("name", "sql"), CORPUS, ids=[name for name, _ in CORPUS])
def test_the_statement_check_refuses(schema: StoreWriter, name: str, sql: str) -> None:
    with pytest.raises(QueryError, match=REFUSED):
        check_read_only(schema.con.cursor(), sql.format(db=schema.path))


def test_what_operators_use_still_runs(writer: StoreWriter) -> None:
    for sql in ALLOWED:
        run_query(writer.con.cursor(), sql, timeout_s=10)


@pytest.mark.parametrize(
    "name",
    [
        "CTE DELETE",
        "CTE UPDATE",
        "CTE INSERT",
        "EXPLAIN ANALYZE INSERT",
        "EXPLAIN ANALYZE DELETE",
        "nextval",
        "setval in a lambda",
        "CREATE MACRO",
        "DROP",
    ],
)
def test_the_read_only_transaction_alone_stops_the_writes(writer: StoreWriter, name: str) -> None:
    """The second fence, without the first: DuckDB refuses the write inside the transaction."""
    sql = dict(CORPUS)[name]
    cur = writer.con.cursor()
    try:
        cur.extract_statements(sql)
    except duckdb.Error:
        pytest.skip(f"DuckDB {duckdb.__version__} cannot parse it, so cannot run it either")
    cur.execute("BEGIN TRANSACTION READ ONLY")
    with pytest.raises(duckdb.Error, match="read-only"):
        cur.execute(sql)
    cur.execute("ROLLBACK")
    assert writer.con.execute("SELECT count(*), max(price) FROM marks").fetchall() == [(1, 1.5)]
    assert writer.con.execute("SELECT nextval('seq')").fetchall() == [(1,)]  # never advanced


def _files(db: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(db.parent.iterdir())
        if p.name.startswith(db.name)
    }


async def _publish_marks(nc: Client, subjects: Subjects, run: str, n: int) -> None:
    js = nc.jetstream()
    for i in range(n):
        ev = Mark(symbol="S", price=1.0, id=f"{run}-{i}", bot="b1", run=run, seq=i + 1, ts=1e9 + i)
        await js.publish(subjects.event("b1", "mark"), encode(ev), headers={"Nats-Msg-Id": ev.id})


@pytest.mark.nats
async def test_the_corpus_through_the_running_store_changes_no_byte(
    store: RunningStore, nc: Client, subjects: Subjects
) -> None:
    await _publish_marks(nc, subjects, "c", 20)
    await store.wait_for("SELECT count(*) FROM marks", 20)
    await wait_until(store.caught_up)
    writer = store.service.writer
    assert writer is not None
    with writer.lock:
        writer.con.execute("CHECKPOINT")
    before = _files(store.db)
    url = store.service.config.nats_url
    refused: dict[str, str] = {}
    async with open_store(store.db, url, subjects) as reader:
        assert reader.where == "store"
        for name, text in CORPUS:
            sql = text.format(db=store.db)
            with pytest.raises(QueryError) as plain:
                await reader.query(sql, limit=10, timeout_s=10)
            with pytest.raises(QueryError) as streamed:
                [row async for row in reader.rows(sql, timeout_s=10)]
            assert str(plain.value) == str(streamed.value), name
            refused[name] = str(plain.value)
    unclear = {n: why for n, why in refused.items() if not re.match(REFUSED, why)}
    assert not unclear
    assert _files(store.db) == before
    assert store.rows("SELECT count(*), count(DISTINCT price) FROM marks") == [(20, 1)]
    # The store still stores: nothing in the corpus broke its writer.
    await _publish_marks(nc, subjects, "d", 5)
    await store.wait_for("SELECT count(*) FROM marks", 25)


async def _cli(*argv: str) -> int:
    """``main`` runs its own event loop: in a thread, beside the store's."""
    return await asyncio.to_thread(main, list(argv))


@pytest.mark.nats
async def test_the_clients_timeout_reaches_the_store_and_frees_it(
    store: RunningStore, capsys: pytest.CaptureFixture[str]
) -> None:
    url = store.service.config.nats_url
    assert store.service.config.sql_timeout_s == 30  # the store alone would wait 30 s
    code = await _cli("sql", SLOW, "--timeout", "1", "--db", str(store.db), "--nats-url", url)
    assert code == 2
    assert capsys.readouterr().err == "tradewire sql: timed out after 1s\n"
    async with open_store(store.db, url, Subjects()) as reader:
        # One query at a time in the store: this one answers only if the slow one is gone.
        answer = await reader.query("SELECT 42", limit=1, timeout_s=3)
        assert answer.rows == [[42]]
        with pytest.raises(QueryError, match="timed out after 1s"):
            [row async for row in reader.rows(SLOW, timeout_s=1)]
        assert (await reader.query("SELECT 43", limit=1, timeout_s=3)).rows == [[43]]


def _open_streams(store: RunningStore) -> int:
    sql = store.service._sql
    return len(sql._streams) if sql is not None else 0


@pytest.mark.nats
async def test_a_stream_is_one_snapshot_while_the_writer_goes_on(
    store: RunningStore, nc: Client, subjects: Subjects
) -> None:
    """An open read transaction neither blocks nor loses the writer's appends."""
    async with open_store(store.db, store.service.config.nats_url, subjects) as reader:
        rows = reader.rows(
            "SELECT r, repeat('x', 200) AS pad, (SELECT count(*) FROM marks) AS n"
            " FROM range(20000) t(r)",
            timeout_s=20,
        )
        first = await anext(rows)
        assert first[2] == 0
        assert _open_streams(store) == 1  # more chunks wait: the transaction is open
        await _publish_marks(nc, subjects, "s", 50)
        await store.wait_for("SELECT count(*) FROM marks", 50)  # committed meanwhile
        rest = [row async for row in rows]
    assert sorted(r[0] for r in [first, *rest]) == list(range(20000))
    assert {r[2] for r in rest} == {0}  # every chunk from the snapshot it started with
    await wait_until(lambda: _open_streams(store) == 0)
    assert store.rows("SELECT count(*) FROM marks") == [(50,)]  # the rollback kept them


@pytest.mark.nats
async def test_streams_end_when_left_and_are_bounded(
    store: RunningStore, subjects: Subjects, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = "SELECT r, repeat('x', 500) FROM range(10000) t(r)"
    async with open_store(store.db, store.service.config.nats_url, subjects) as reader:
        # A reader that stops early frees the store's cursor at once.
        rows = reader.rows(big, timeout_s=10)
        await anext(rows)
        await rows.aclose()
        await wait_until(lambda: _open_streams(store) == 0)
        # At most MAX_STREAMS at once; the next one is told to come back.
        open_ = [reader.rows(big, timeout_s=10) for _ in range(responder.MAX_STREAMS)]
        for r in open_:
            await anext(r)
        with pytest.raises(QueryError, match=r"^busy: "):
            await anext(reader.rows(big, timeout_s=10))
        for r in open_:
            await r.aclose()
        await wait_until(lambda: _open_streams(store) == 0)
        # A stream nobody asks for is closed by the store, and then says so.
        monkeypatch.setattr(responder, "STREAM_IDLE_S", 0.2)
        left = reader.rows(big, timeout_s=10)
        await anext(left)
        await wait_until(lambda: _open_streams(store) == 0)
        with pytest.raises(QueryError, match="the store ended the query"):
            [row async for row in left]
