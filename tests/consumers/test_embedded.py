"""The embedded nats-server runner."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest

from tradewire.consumers.embedded import EmbeddedNats, NatsServerNotFound, find_nats_server


@pytest.mark.nats
async def test_restart_keeps_port_and_jetstream_data(nats_server: EmbeddedNats) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await js.add_stream(name="T", subjects=["t.>"])
    await js.publish("t.x", b"1")
    await nc.close()
    port = nats_server.port
    pid = nats_server.proc.pid if nats_server.proc else 0
    nats_server.stop()
    nats_server.start()
    assert nats_server.port == port
    assert nats_server.proc is not None and nats_server.proc.pid != pid
    nc = await nats.connect(nats_server.url)
    info = await nc.jetstream().stream_info("T")
    assert info.state.messages == 1
    await nc.close()


def test_explicit_binary_that_does_not_exist(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRADEWIRE_NATS_SERVER", str(tmp_path / "nope"))
    with pytest.raises(NatsServerNotFound, match="does not exist"):
        find_nats_server()


def test_binary_that_fails_to_start_is_reported(tmp_path: Path) -> None:
    fake = tmp_path / "nats-server"
    fake.write_text("#!/bin/sh\necho 'bad flag' >&2\nexit 1\n")
    fake.chmod(0o755)
    server = EmbeddedNats(binary=fake)
    with pytest.raises(RuntimeError, match="bad flag"), server:
        pass
    assert server.proc is None
