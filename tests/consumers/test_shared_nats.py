"""Components sharing one NATS: stream limits have one owner; the demo touches nothing else."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig

from tradewire.consumers.alerts import AlertsConfig, AlertsService
from tradewire.consumers.cli import main
from tradewire.consumers.demo import DEMO_ROOT, run_demo
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.consumers.simulate import SimulationConfig
from tradewire.consumers.store import StoreConfig, StoreService
from tradewire.schemas import Subjects

pytestmark = pytest.mark.nats

DAY = 86400.0
GIB = 1 << 30


async def cli(*argv: str) -> int:
    """Run the CLI as an operator does: its own process (the demo installs signal handlers)."""
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tradewire.consumers.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode not in (0, 2):
        print(proc.stdout, proc.stderr)
    return proc.returncode


async def limits(nc: Client, subjects: Subjects) -> tuple[float | None, int | None]:
    config = (await nc.jetstream().stream_info(subjects.events_stream)).config
    return config.max_age, config.max_bytes


async def test_only_the_store_or_an_admin_sets_stream_limits(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    url = nats_server.url
    store = StoreService(
        StoreConfig(
            nats_url=url,
            db=str(tmp_path / "s.duckdb"),
            http_port=0,
            stream_max_age_s=30 * DAY,
            stream_max_bytes=50 * GIB,
        )
    )
    task = await store.start()
    assert await limits(nc, subjects) == (30 * DAY, 50 * GIB)
    store.stop()
    assert await task == 0
    # Everything else creates a missing stream, and leaves this one alone.
    for service in (
        MetricsService(MetricsConfig(nats_url=url, http_port=0)),
        AlertsService(AlertsConfig(nats_url=url, http_port=0)),
    ):
        t = await service.start()
        service.stop()
        assert await t == 0
    argv = ["--nats-url", url, "--bots", "1", "--rate", "20", "--duration", "0.5"]
    assert await cli("simulate", *argv) == 0
    assert await cli("demo", *argv, "--root", "tradewire", "--out-dir", str(tmp_path / "d")) == 0
    assert await limits(nc, subjects) == (30 * DAY, 50 * GIB)
    # A store restarted with its defaults keeps them too ...
    store = StoreService(StoreConfig(nats_url=url, db=str(tmp_path / "s.duckdb"), http_port=0))
    task = await store.start()
    store.stop()
    assert await task == 0
    assert await limits(nc, subjects) == (30 * DAY, 50 * GIB)
    # ... and one configured with a shorter max_age refuses to delete history.
    short = StoreService(
        StoreConfig(nats_url=url, db=str(tmp_path / "s.duckdb"), http_port=0, stream_max_age_s=DAY)
    )
    with pytest.raises(ValueError, match="--allow-shrink"):
        await short.start()
    assert await limits(nc, subjects) == (30 * DAY, 50 * GIB)
    # The operator can, on purpose.
    set_ = ["stream", "set", "--nats-url", url, "--max-age", "3d"]
    assert await asyncio.to_thread(main, set_) == 2
    assert await limits(nc, subjects) == (30 * DAY, 50 * GIB)
    assert await asyncio.to_thread(main, [*set_, "--allow-shrink"]) == 0
    assert await limits(nc, subjects) == (3 * DAY, 50 * GIB)


async def names(nc: Client) -> tuple[set[str], set[str]]:
    """(consumers of every stream, key-value buckets) on the server."""
    js = nc.jetstream()
    consumers, buckets = set(), set()
    for stream in await js.streams_info():
        name = stream.config.name or ""
        if name.startswith("KV_"):
            buckets.add(name[3:])
        else:
            consumers |= {c.name for c in await js.consumers_info(name)}
    return consumers, buckets


async def test_demo_on_a_shared_nats_stays_out_of_the_fleet_and_leaves_nothing(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    js = nc.jetstream()
    # A production metrics durable with work waiting for it.
    await js.add_consumer(
        subjects.events_stream, ConsumerConfig(durable_name=subjects.durable("metrics"))
    )
    await js.publish(subjects.event("prod-1", "heartbeat"), b"{}")
    before = await names(nc)
    argv = ["demo", "--nats-url", nats_server.url, "--bots", "1", "--rate", "20"]
    argv += ["--duration", "0.5", "--out-dir", str(tmp_path)]
    assert await cli(*argv) == 0
    # Its own root: no simulated bot in the real stream, and the real durable kept its work.
    demo = Subjects(DEMO_ROOT)
    assert (await js.stream_info(demo.events_stream)).state.messages > 0
    assert (await js.stream_info(subjects.events_stream)).state.messages == 1
    info = await js.consumer_info(subjects.events_stream, subjects.durable("metrics"))
    assert info.num_pending == 1
    consumers, buckets = await names(nc)
    assert consumers == before[0] and buckets == before[1]


async def test_demo_cleans_up_after_an_error(
    nats_server: EmbeddedNats, nc: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tradewire.consumers.demo as demo_module

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the simulator broke")

    monkeypatch.setattr(demo_module, "run_simulation", broken)
    subjects = Subjects("fleet-x")
    with pytest.raises(RuntimeError, match="simulator broke"):
        await run_demo(nats_server.url, SimulationConfig(bots=1), subjects, tmp_path)
    consumers, buckets = await names(nc)
    assert consumers == set() and buckets == set()
    # Every service the demo started has stopped: nothing is left on this loop.
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in others if "run" in repr(t.get_coro())], others
