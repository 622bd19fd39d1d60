"""The store against a real nats-server: exactly once, quarantine, health, SQL."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import msgspec
import pytest
from nats.aio.client import Client

from tests.conftest import RunningStore, read_only
from tests.helpers import stream_ids
from tests.waiting import wait_until
from tradewire.consumers.simulate import SimulationConfig, run_simulation
from tradewire.consumers.store import TABLES, StoreConfig, StoreService
from tradewire.schemas import Mark, Subjects, encode

pytestmark = pytest.mark.nats


async def test_simulated_fleet_stored_exactly_once(
    store: RunningStore, nats_server: object, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    config = SimulationConfig(bots=3, rate=500, duration=2.0, seed=11)
    url = store.service.config.nats_url
    result = await run_simulation(url, config, tmp_path / "outbox", keep_ids=True)
    await store.wait_for("SELECT count(*) FROM events", result.emitted)
    stored = {r[0] for r in store.rows("SELECT id FROM events")}
    assert stored == result.ids
    assert store.rows("SELECT count(*) FROM seq_gaps")[0][0] == 0
    for kind, n in result.by_kind.items():
        assert store.rows(f"SELECT count(*) FROM {TABLES[kind].name}")[0][0] == n, kind
    # Envelope and stream position are kept with every row.
    (row,) = store.rows(
        "SELECT count(*) FROM orders WHERE stream_seq IS NULL "
        "OR received_at IS NULL OR received_at < ts - 60"
    )
    assert row[0] == 0
    assert set(await stream_ids(nc, subjects)) == result.ids


async def test_republished_event_with_new_msg_id_is_stored_once(
    store: RunningStore, nc: Client, subjects: Subjects
) -> None:
    ev = Mark(symbol="BTC-USD", price=1.0, id="r1-1", bot="b1", run="r1", seq=1, ts=1.7e9)
    data = encode(ev)
    js = nc.jetstream()
    # Three copies reach the stream (different Nats-Msg-Id: past the duplicate window).
    for n in range(3):
        await js.publish(subjects.event("b1", "mark"), data, headers={"Nats-Msg-Id": f"x{n}"})
    await wait_until(lambda: store.service.duplicates == 2, what="two duplicates")
    assert store.rows("SELECT count(*) FROM marks")[0][0] == 1


BAD: list[tuple[str, bytes, str]] = [
    ("not json", b"{nope", "malformed"),
    ("truncated", b'{"kind":"mark","symbol":"X"', "malformed"),
    ("invalid utf-8", b'{"kind":"mark","symbol":"\xff"}', "malformed"),
    ("NaN literal", b'{"kind":"mark","symbol":"X","price":NaN}', "malformed"),
    (
        "1e309",
        b'{"kind":"mark","id":"a","bot":"b1","run":"r","seq":1,"ts":1.0,'
        b'"symbol":"X","price":1e309}',
        "invalid",
    ),
    (
        "negative price",
        b'{"kind":"mark","id":"a","bot":"b1","run":"r","seq":1,"ts":1.0,"symbol":"X","price":-5}',
        "invalid",
    ),
    (
        "wrong type",
        b'{"kind":"mark","id":"a","bot":"b1","run":"r","seq":1,"ts":1.0,"symbol":"X","price":"1"}',
        "invalid",
    ),
    (
        "bad enum",
        b'{"kind":"order","id":"a","bot":"b1","run":"r","seq":1,"ts":1.0,'
        b'"symbol":"X","side":"up","status":"filled","qty":1}',
        "invalid",
    ),
    (
        "order on the mark subject",
        b'{"kind":"order","id":"a","bot":"b1","run":"r","seq":1,'
        b'"ts":1.0,"symbol":"X","side":"buy","status":"filled","qty":1}',
        "kind_mismatch",
    ),
    ("unknown kind in payload", b'{"kind":"teleport","id":"a","bot":"b1"}', "invalid"),
    (
        "future version",
        b'{"kind":"mark","v":9,"id":"a","bot":"b1","run":"r","seq":1,'
        b'"ts":1.0,"symbol":"X","price":1}',
        "unsupported_version",
    ),
    (
        "bot spoof",
        b'{"kind":"mark","id":"a","bot":"other","run":"r","seq":1,"ts":1.0,"symbol":"X","price":1}',
        "bot_mismatch",
    ),
    ("unstamped", b'{"kind":"mark","symbol":"X","price":1}', "unstamped"),
    ("oversized", b'{"kind":"mark","pad":"' + b"x" * 70_000 + b'"}', "too_large"),
    ("empty", b"", "malformed"),
    ("json array", b"[1,2,3]", "invalid"),
]


async def test_bad_input_corpus_is_quarantined_and_acked(
    store: RunningStore, nc: Client, subjects: Subjects
) -> None:
    js = nc.jetstream()
    seqs = {}
    for name, data, _ in BAD:
        ack = await js.publish(subjects.event("b1", "mark"), data)
        seqs[ack.seq] = name
    # Kinds unknown to the subject itself: quarantined as bad_subject.
    ack = await js.publish(
        "tradewire.evt.b1.teleport",
        encode(Mark(symbol="X", price=1.0, id="q", bot="b1", run="r", seq=1, ts=1.0)),
    )
    seqs[ack.seq] = "unknown subject kind"
    good = Mark(symbol="X", price=2.0, id="ok-1", bot="b1", run="ok", seq=1, ts=1.7e9)
    await js.publish(subjects.event("b1", "mark"), encode(good))
    await store.wait_for("SELECT count(*) FROM quarantine", len(seqs))
    await store.wait_for("SELECT count(*) FROM marks", 1)
    got = {
        int(str(r[0])): (r[1], r[2])
        for r in store.rows("SELECT stream_seq, reason, raw FROM quarantine")
    }
    expected = {name: reason for name, _, reason in BAD} | {"unknown subject kind": "bad_subject"}
    assert {seqs[s]: reason for s, (reason, _) in got.items()} == expected
    raw_by_name = {seqs[s]: raw for s, (_, raw) in got.items()}
    assert raw_by_name["not json"] == b"{nope"  # the exact bytes are kept

    async def all_acked() -> bool:
        info = await js.consumer_info(subjects.events_stream, "tradewire-store")
        return bool(info.num_ack_pending == 0 and info.num_pending == 0)

    await wait_until(all_acked, what="every message acked")
    assert not store.task.done()  # still running


async def test_health_endpoints(store: RunningStore) -> None:
    assert store.service.http is not None
    base = f"http://127.0.0.1:{store.service.http.port}"

    def get(path: str) -> tuple[int, dict[str, object]]:
        try:
            with urllib.request.urlopen(base + path, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    assert await asyncio.to_thread(get, "/live") == (200, {"status": "pass", "live": True})
    code, ready = await asyncio.to_thread(get, "/ready")
    assert code == 200 and ready == {"status": "pass", "ready": True, "reason": "consuming"}
    code, health = await asyncio.to_thread(get, "/health")
    assert code == 200 and health["status"] == "healthy"
    checks = health["checks"]
    assert isinstance(checks, dict)
    assert checks["nats"]["status"] == "pass"
    assert checks["consumer"]["details"]["lag"] == 0
    code, body = await asyncio.to_thread(get, "/nope")
    assert code == 404 and "/health" in body["routes"]  # type: ignore[operator]
    code = await store.stop()
    assert code == 0


async def test_clean_stop_commits_and_acks(
    store: RunningStore, nc: Client, subjects: Subjects
) -> None:
    js = nc.jetstream()
    for i in range(200):
        ev = Mark(symbol="X", price=1.0, id=f"s-{i}", bot="b1", run="s", seq=i + 1, ts=1.7e9)
        await js.publish(subjects.event("b1", "mark"), encode(ev), headers={"Nats-Msg-Id": ev.id})
    await asyncio.sleep(0.05)  # let some, maybe not all, reach the store
    assert await store.stop() == 0
    info = await js.consumer_info(subjects.events_stream, "tradewire-store")
    with read_only(store.db) as con:
        row = con.execute("SELECT count(*) FROM marks").fetchone()
    # Whatever the store had been handed is committed and acked; the rest waits in the
    # stream for the next start. Nothing is half-done either way.
    assert info.num_ack_pending == 0
    assert row == (200 - info.num_pending,)


async def test_sql_over_nats_is_read_only(
    store: RunningStore, nc: Client, subjects: Subjects
) -> None:
    from tradewire.consumers.store import QueryResult, SqlRequest

    async def ask(sql: str) -> QueryResult:
        msg = await nc.request(subjects.sql, msgspec.json.encode(SqlRequest(sql, 10)), timeout=10)
        return msgspec.json.decode(msg.data, type=QueryResult)

    ok = await ask("SELECT 41 + 1 AS answer")
    assert ok.rows == [[42]] and ok.columns == ["answer"] and not ok.error
    many = await ask("SELECT * FROM range(100)")
    assert len(many.rows) == 10 and many.truncated
    for bad in [
        "INSERT INTO marks (id) VALUES ('x')",
        "DELETE FROM marks",
        "DROP TABLE marks",
        "CREATE TABLE t (x INT)",
        "ATTACH '/tmp/x.duckdb' AS x",
        "COPY marks TO '/tmp/out.csv'",
        "PRAGMA enable_profiling",
        "SET enable_external_access = true",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT 1; DROP TABLE marks",
    ]:
        refused = await ask(bad)
        assert refused.error and not refused.rows, bad
    assert store.rows("SELECT count(*) FROM marks")[0][0] == 0  # table still there


async def test_quarantine_keeps_what_a_recreated_stream_numbers_again(
    store: RunningStore, nc: Client, subjects: Subjects
) -> None:
    """A recreated stream numbers its messages from 1 again: malformed messages that
    reuse an earlier one's stream_seq are each quarantined, not dropped as seen."""
    js = nc.jetstream()
    for _ in range(5):
        await js.publish(subjects.event("b1", "mark"), b"{first")
    await store.wait_for("SELECT count(*) FROM quarantine", 5)
    assert await store.stop() == 0
    await js.delete_stream(subjects.events_stream)
    again = StoreService(
        StoreConfig(
            nats_url=store.service.config.nats_url, db=str(store.db), http_port=0, max_wait_s=0.1
        )
    )
    task = await again.start(20)
    try:
        for _ in range(5):
            await js.publish(subjects.event("b1", "mark"), b"{second")
        running = RunningStore(again, task, store.db)
        await wait_until(running.caught_up, what="the new stream acked")
        rows = running.rows("SELECT stream_seq, raw FROM quarantine ORDER BY raw, stream_seq")
        assert [(int(str(s)), r) for s, r in rows] == [
            *((n, b"{first") for n in range(1, 6)),
            *((n, b"{second") for n in range(1, 6)),
        ]
        assert again.quarantined == {"malformed": 5}
    finally:
        again.stop()
        assert await task == 0
