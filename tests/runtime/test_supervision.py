"""A service whose pull loop or side task dies stops being live and ready and exits 1.

The failures are injected the way bugs arrive: code that raises where the runtime does
not expect it (a handler's own work, a task the service started). NATS, the consumer,
the acks and the HTTP server are real.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from tests.waiting import wait_until
from tradewire.consumers.alerts import AlertsConfig, AlertsService
from tradewire.consumers.cli import main
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.store import StoreConfig, StoreService
from tradewire.schemas import Mark, Subjects, encode

pytestmark = pytest.mark.nats


def store_config(url: str, db: Path) -> StoreConfig:
    return StoreConfig(nats_url=url, db=str(db), http_port=0, max_wait_s=0.1)


async def publish_mark(nc: Client, subjects: Subjects, n: int = 1) -> None:
    ev = Mark(symbol="X", price=1.0, id=f"sup-{n}", bot="b1", run="sup", seq=n, ts=1.7e9)
    await nc.jetstream().publish(subjects.event("b1", "mark"), encode(ev))


async def test_a_handler_bug_makes_the_service_unready_and_run_return_1(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    service = StoreService(store_config(nats_server.url, tmp_path / "s.duckdb"))
    task = await service.start(20)

    def bug(batch: Any) -> Any:
        raise KeyError("a bug in the handler")

    service._classify = bug  # type: ignore[method-assign]
    await publish_mark(nc, subjects)
    assert await asyncio.wait_for(task, 20) == 1
    h = service.health
    assert not h.live and not h.ready
    assert h.reason == "consumer tradewire-store failed: KeyError: 'a bug in the handler'"
    assert h.status() == "unhealthy"
    assert isinstance(service.failure, KeyError)
    # The batch was handed back, not acked: a fixed store gets it at once.
    fixed = StoreService(store_config(nats_server.url, tmp_path / "s.duckdb"))
    fixed_task = await fixed.start(20)
    await wait_until(lambda: fixed.stored == 1, what="the event stored by the fixed store")
    assert fixed.consumer is not None and fixed.consumer.redelivered == 1
    fixed.stop()
    assert await fixed_task == 0


async def test_a_supervised_task_that_dies_fails_the_service(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    service = AlertsService(AlertsConfig(nats_url=nats_server.url, http_port=0, tick_s=0.1))
    task = await service.start(20)
    assert service._ticker is not None and not service._ticker.done()  # supervised too
    probe_ran = asyncio.Event()

    async def dies() -> None:
        probe_ran.set()
        raise ValueError("state machine confused")

    service.spawn(dies(), "probe")
    assert await asyncio.wait_for(task, 20) == 1
    assert probe_ran.is_set()
    assert service.health.reason == "probe failed: ValueError: state machine confused"
    assert service._ticker.cancelled()  # the other tasks were stopped with it


async def test_a_stop_is_not_a_failure(nats_server: EmbeddedNats, tmp_path: Path) -> None:
    service = StoreService(store_config(nats_server.url, tmp_path / "s.duckdb"))
    task = await service.start(20)
    service.stop()
    assert await task == 0
    assert service.health.live and service.health.reason == "shutdown"


def test_the_cli_exits_with_the_services_code(
    nats_server: EmbeddedNats, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_setup(self: StoreService) -> None:
        raise RuntimeError("a bug in setup")

    monkeypatch.setattr(StoreService, "setup", broken_setup)
    db = tmp_path / "s.duckdb"
    argv = ["serve", "store", "--nats-url", nats_server.url, "--db", str(db), "--http-port", "0"]
    assert main(argv) == 1


def test_a_nats_url_that_cannot_work_exits_2_at_once(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    argv = ["serve", "store", "--nats-url", "nats://127.0.0.1:99999", "--db", str(db)]
    assert main([*argv, "--http-port", "0"]) == 2


@pytest.mark.parametrize("what", ["a directory", "not a DuckDB file"])
async def test_a_db_that_cannot_be_opened_stops_the_store_with_one_line(
    what: str, nats_server: EmbeddedNats, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "fleet.duckdb"
    if what == "a directory":
        db.mkdir()
    else:
        db.write_text("not a database\n")
    service = StoreService(store_config(nats_server.url, db))
    assert await service.run(install_signals=False) == 2  # a setting that cannot work
    [failed] = [r for r in caplog.records if "start failed" in r.getMessage()]
    assert failed.exc_info is None  # one line, no traceback: not taken for a bug
    assert f"db {db}: " in failed.getMessage()
