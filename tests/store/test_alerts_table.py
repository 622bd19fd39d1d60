"""The store's second consumer: alert state changes from <ROOT>_ALERTS into ``alerts``."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import msgspec
import nats
import pytest

from tests.conftest import RunningStore
from tests.waiting import wait_until
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.runtime import Delivery
from tradewire.consumers.store import StoreWriter
from tradewire.consumers.store._tables import ALERTS_ADDED, ALERTS_DDL
from tradewire.schemas import AlertChange, Subjects


def change(n: int, state: str = "firing") -> AlertChange:
    return AlertChange(
        id=f"fp1-{n}-{state}",
        fingerprint="fp1",
        rule="DataQualityLow",
        bot="bot-1",
        state=state,  # type: ignore[arg-type]
        severity="critical",
        ts=1_700_000_000.0 + n,
        active_since=1_700_000_000.0,
        value=0.4,
        threshold=0.5,
        labels={"symbol": "BTC-USD"},
        summary="low",
        runbook="docs/runbooks.md#dataqualitylow",
    )


@pytest.mark.nats
async def test_changes_are_stored_once_and_malformed_ones_skipped(
    nats_server: EmbeddedNats, store: RunningStore, subjects: Subjects
) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    subject = subjects.alert("bot-1", "DataQualityLow")
    await js.publish(subject, msgspec.json.encode(change(1)))
    await js.publish(subject, msgspec.json.encode(change(1)))  # a re-publish: same id
    await js.publish(subject, b'{"not": "an alert change"}')
    await js.publish(subject, msgspec.json.encode(change(2, "resolved")))
    await nc.close()
    await store.wait_for("SELECT count(*) FROM alerts", 2)
    rows = store.rows(
        "SELECT id, state, severity, value, threshold, labels, annotations, fingerprint,"
        " active_since, stream_seq FROM alerts ORDER BY ts"
    )
    assert [r[:5] for r in rows] == [
        ("fp1-1-firing", "firing", "critical", 0.4, 0.5),
        ("fp1-2-resolved", "resolved", "critical", 0.4, 0.5),
    ]
    assert json.loads(str(rows[0][5])) == {"symbol": "BTC-USD"}
    assert json.loads(str(rows[0][6]))["runbook"] == "docs/runbooks.md#dataqualitylow"
    assert rows[0][7] == "fp1" and rows[0][8] == 1_700_000_000.0
    assert [r[9] for r in rows] == [1, 4]
    # The rows are visible at COMMIT, a moment before the handler counts them.
    await wait_until(lambda: store.service.alerts_stored == 2, what="alert changes counted")
    assert store.service.alerts_malformed == 1


def test_an_older_alerts_table_gains_the_new_columns(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute(ALERTS_DDL)  # the table as the first release created it
    con.execute("INSERT INTO alerts (id, bot, rule, state, ts) VALUES ('x', 'b', 'R', 'firing', 1)")
    con.close()
    writer = StoreWriter(db)
    cols = {
        r[0]
        for r in writer.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'alerts'"
        ).fetchall()
    }
    assert set(ALERTS_ADDED) <= cols
    assert writer.write_alerts([(change(3), Delivery("s", b"", "", 9, 1, 0, 0))]) == 1
    assert writer.con.execute("SELECT count(*) FROM alerts").fetchone() == (2,)
    writer.close()
