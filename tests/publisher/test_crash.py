"""A bot SIGKILLed with events in its outbox delivers them when it starts again."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from nats.aio.client import Client

from tests.helpers import stream_id_list
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.publisher import Publisher
from tradewire.schemas import Subjects

pytestmark = [pytest.mark.nats, pytest.mark.slow]

SCRIPT = Path(__file__).with_name("_bot_process.py")


async def test_sigkilled_bot_delivers_outbox_after_restart(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    count = 1500
    # The first life sees no server at all, so everything waits in the outbox.
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "nats://127.0.0.1:1", str(outbox), str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ids: list[str] = []
    try:
        for line in proc.stdout:
            if line.strip() == "READY":
                break
            ids.append(line.strip())
        else:
            pytest.fail(f"bot exited early with {proc.wait()}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert len(ids) == count
    assert list(outbox.glob("*.seg"))

    # Second life, server up: the outbox is replayed before anything new.
    pub = await Publisher(
        "crash-bot",
        url=nats_server.url,
        outbox_dir=outbox,
        heartbeat_interval_s=0,
        lifecycle_events=False,
    ).start()
    assert pub.stats().in_outbox == count
    assert await pub.flush(30)
    stats = await pub.close()
    assert stats.acked == count and stats.in_outbox == 0
    # In emit order, each once.
    assert await stream_id_list(nc, subjects) == ids
    assert not list(outbox.glob("*.seg"))
