"""`alerts backtest` over a hand-built store: every expected time is worked out here."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from nats.aio.client import Client

from tests.conftest import RunningStore
from tradewire.consumers.cli import main
from tradewire.consumers.runtime import Delivery
from tradewire.consumers.store import StoreWriter
from tradewire.schemas import Cycle, Envelope, Heartbeat, Risk, Subjects, encode, kind_of

T = 1_763_596_800.0  # 2025-11-20T00:00:00Z: the backtest starts here


def events(t: float = T) -> list[tuple[Envelope, Delivery]]:
    """The history every test replays, starting at ``t``."""
    seqs: dict[str, int] = {}
    rows: list[tuple[Envelope, Delivery]] = []

    def add(bot: str, ev: Envelope, ts: float) -> None:
        seqs[bot] = seqs.get(bot, 0) + 1
        ev.bot, ev.run, ev.seq, ev.ts = bot, f"run-{bot}", seqs[bot], ts
        ev.id = f"run-{bot}-{seqs[bot]}"
        rows.append((ev, Delivery("s", b"", "", len(rows) + 1, 1, int(ts * 1e9), 0)))

    # Two cycle errors before the window only warm it up; the third, inside, fires.
    add("a", Cycle(duration_s=0.1, ok=False), t - 100)
    add("a", Cycle(duration_s=0.1, ok=False), t - 50)
    add("a", Cycle(duration_s=0.1, ok=False), t + 30)
    # Drawdown: fires at 12 (> 10), holds at 9 (resolve 8), peaks at 16 (critical), resolves at 7.
    for dt, dd in [(0, 5), (60, 12), (120, 16), (180, 9), (240, 7)]:
        add("a", Risk(drawdown_pct=dd, daily_loss_limit=1000), t + dt)
    # Heartbeats every 10 s until T+300, then silence: BotDown (120 s) at ~T+420.
    for i in range(31):
        add("a", Heartbeat(), t + 10 * i)
    add("b", Risk(drawdown_pct=20, daily_loss_limit=1000), t + 5)  # only without --bot a
    return rows


def build(path: Path) -> None:
    writer = StoreWriter(path)
    writer.write(events(), [])
    writer.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "hist.duckdb"
    build(path)
    return path


def run(db: Path, capsys: Any, *extra: str) -> dict[str, Any]:
    args = ["alerts", "backtest", "--db", str(db), "--from", str(T), "--to", str(T + 600)]
    assert main([*args, "--format", "json", *extra]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_backtest_lists_when_each_rule_would_have_fired(db: Path, capsys: Any) -> None:
    check_episodes(run(db, capsys, "--bot", "a"))


def check_episodes(got: dict[str, Any], t: float = T) -> None:
    eps = {e["rule"]: e for e in got["episodes"]}
    assert set(eps) == {"CycleErrors", "Drawdown", "BotDown"}
    assert eps["CycleErrors"]["fired_at"] == t + 30  # warmed up by the two before --from
    dd = eps["Drawdown"]
    assert (dd["fired_at"], dd["resolved_at"]) == (t + 60, t + 240)
    assert (dd["severity"], dd["peak"]) == ("critical", 16.0)
    bd = eps["BotDown"]
    assert t + 420 <= bd["fired_at"] <= t + 425  # 5 s clock steps
    assert bd["resolved_at"] is None and bd["severity"] == "critical"
    assert got["events"] == 1 + 5 + 31  # events inside the window, bot a


def test_bot_filter_and_text_output(db: Path, capsys: Any) -> None:
    every = run(db, capsys)
    assert sorted(e["bot"] for e in every["episodes"] if e["rule"] == "Drawdown") == ["a", "b"]
    assert (
        main(["alerts", "backtest", "--db", str(db), "--from", str(T), "--to", str(T + 600)]) == 0
    )
    text = capsys.readouterr().out
    assert text.startswith("backtest: 15 rule(s), 2025-11-20 00:00:00Z .. 2025-11-20 00:10:00Z")
    assert "Drawdown                 fired 2 time(s)" in text


def test_a_date_to_is_the_end_of_that_day_and_never_past_now(db: Path, capsys: Any) -> None:
    day = ["alerts", "backtest", "--db", str(db), "--from", "2025-11-20", "--to", "2025-11-20"]
    assert main([*day, "--bot", "a", "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    eps = {e["rule"]: e for e in got["episodes"]}
    assert (eps["Drawdown"]["fired_at"], eps["Drawdown"]["resolved_at"]) == (T + 60, T + 240)
    assert main(day) == 0
    text = capsys.readouterr().out
    assert text.startswith("backtest: 15 rule(s), 2025-11-20 00:00:00Z .. 2025-11-21 00:00:00Z")
    recent = db.with_name("recent.duckdb")
    t = time.time() - 600
    writer = StoreWriter(recent)
    writer.write(events(t), [])
    writer.close()
    later = ["alerts", "backtest", "--db", str(recent), "--from", str(t), "--to", "2999-01-01"]
    assert main([*later, "--bot", "a", "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    down = next(e for e in got["episodes"] if e["rule"] == "BotDown")
    # Silent since t+300, down from ~t+420, still firing at now (~t+600): not for centuries.
    assert down["resolved_at"] is None and got["to"] <= time.time()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from", "yesterday"], "--from 'yesterday': use 2026-11-20"),
        (["--from", "2025-11-21", "--to", "2025-11-20"], "--from must be before --to"),
        (["--step", "0"], "--step: between 0.1s and 1h"),
    ],
)
def test_bad_arguments_are_clear_errors(
    db: Path, capsys: Any, extra: list[str], message: str
) -> None:
    assert main(["alerts", "backtest", "--db", str(db), *extra]) == 2
    assert message in capsys.readouterr().err


def test_missing_file_is_an_error(tmp_path: Path, capsys: Any) -> None:
    assert main(["alerts", "backtest", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.nats
async def test_backtest_reads_the_running_store_including_its_wal(
    store: RunningStore, nc: Client, subjects: Subjects, tmp_path: Path, capsys: Any
) -> None:
    t = float(int(time.time()) - 3600)  # recent history, as a live fleet has
    history = events(t)
    js = nc.jetstream()
    for ev, _ in history:
        await js.publish(subjects.event(ev.bot, kind_of(ev)), encode(ev))
    await store.wait_for("SELECT count(*) FROM events", len(history))
    # What "backtest a copy" used to give: the file without its WAL misses the events.
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(store.db, copy)
    with duckdb.connect(str(copy), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        seen = con.execute("FROM heartbeats").fetchall() if "heartbeats" in tables else []
    assert len(seen) < 31
    argv = ["alerts", "backtest", "--from", str(t), "--to", str(t + 600), "--format", "json"]
    argv += ["--bot", "a", "--db", str(store.db), "--nats-url", store.service.config.nats_url]
    assert await asyncio.to_thread(main, argv) == 0
    check_episodes(json.loads(capsys.readouterr().out), t)
