"""What the publisher says by itself: started and stopped, and the process's vital signs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from tests.waiting import wait_until
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.publisher import Publisher
from tradewire.publisher._process import ProcessSampler
from tradewire.schemas import Envelope, Heartbeat, Lifecycle, Subjects, decode


def test_sampler_reports_the_process() -> None:
    sampler = ProcessSampler(Path("/"))
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:  # burn some CPU for the next sample to see
        pass
    stats = sampler.sample()
    assert stats.cpu_percent is not None and stats.cpu_percent > 0
    assert stats.memory_rss_bytes is not None and stats.memory_rss_bytes > 10 << 20
    assert stats.memory_percent is not None and 0 < stats.memory_percent < 100
    assert stats.threads is not None and stats.threads >= 1
    assert stats.open_files is not None and stats.open_files >= 3  # stdin, stdout, stderr
    assert stats.disk_percent is not None and 0 < stats.disk_percent <= 100
    assert stats.net_sent_bytes is not None and stats.net_recv_bytes is not None


@pytest.mark.nats
async def test_a_restart_shows_as_stopped_then_started_and_heartbeats_carry_vitals(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    seen: list[Envelope] = []

    async def on_msg(msg: Msg) -> None:
        seen.append(decode(msg.data))

    await nc.subscribe(subjects.event("life-bot", "*"), cb=on_msg)
    await nc.flush()
    runs = []
    for _ in range(2):  # two lives of one bot
        async with Publisher(
            "life-bot",
            url=nats_server.url,
            outbox_dir=tmp_path,
            heartbeat_interval_s=0.05,
            version="2.3.1",
        ) as tel:
            runs.append(tel.run)
            await wait_until(lambda: sum(isinstance(e, Heartbeat) for e in seen) >= 2)
    await wait_until(lambda: sum(isinstance(e, Lifecycle) for e in seen) == 4)
    for run in runs:
        mine = sorted((e for e in seen if e.run == run), key=lambda e: e.seq)
        first, last = mine[0], mine[-1]
        assert isinstance(first, Lifecycle) and first.state == "started" and first.seq == 1
        assert first.version == "2.3.1" and first.pid is not None and first.pid > 0
        assert isinstance(last, Lifecycle) and last.state == "stopped"
    beats = [e for e in seen if isinstance(e, Heartbeat)]
    assert all(b.memory_rss_bytes and b.threads and b.open_files for b in beats)
    assert all(b.cpu_percent is not None and b.disk_percent is not None for b in beats)
