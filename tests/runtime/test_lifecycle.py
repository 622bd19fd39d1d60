"""Each service as a process, against NATS that is unreachable, goes away, or does not answer.

Required of every service: one log line per connection attempt with a growing pause, no
tracebacks; ``/live`` and ``/ready`` answer while it connects; ``/ready`` is 503 while
NATS is down and 200 once it is back; SIGTERM or SIGINT ends it within 5 s, exit 0, in
every state.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg

from tests.conftest import need_external
from tests.runtime.served import SERVICES, Served
from tests.waiting import wait_until
from tradewire.consumers.embedded import EmbeddedNats, NatsServerNotFound, find_nats_server

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("service", SERVICES)
def test_stops_at_once_while_nats_is_unreachable(
    service: str, sig: signal.Signals, tmp_path: Path
) -> None:
    served = Served(service, "nats://127.0.0.1:1", tmp_path)  # nothing listens on port 1
    try:
        served.wait_listening()
        served.wait_for_line("cannot connect to NATS")
        assert served.get("/live") == (200, {"status": "pass", "live": True})
        status, body = served.get("/ready")
        assert status == 503 and body["reason"].startswith("connecting to NATS"), body
        assert "ConnectionRefusedError" in body["reason"]
        status, health = served.get("/health")
        assert status == 503 and health["checks"]["nats"]["status"] == "fail", health
        assert served.signal_and_wait(sig) == 0, served.stderr
    finally:
        served.kill()
    served.assert_clean_log(max_retry_lines=6)
    first = next(line for line in served.lines if "cannot connect to NATS" in line)
    assert "(attempt 1)" in first and "127.0.0.1:1" in first and "next try in" in first


@pytest.mark.nats
@pytest.mark.parametrize("service", SERVICES)
def test_ready_follows_nats_and_sigterm_works_while_it_is_away(
    service: str, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    served = Served(service, nats_server.url, tmp_path)
    try:
        served.wait_listening()
        assert served.wait_ready(200)["reason"] == "consuming"
        nats_server.stop()
        body = served.wait_ready(503)
        assert body["reason"].startswith("NATS disconnected"), body
        status, health = served.get("/health")
        assert status == 503 and health["status"] == "unhealthy", health
        served.wait_for_line("cannot connect to NATS")
        nats_server.start()
        assert served.wait_ready(200)["reason"] == "consuming"
        served.wait_for_line("reconnected to NATS")
        nats_server.stop()  # and SIGTERM while it is reconnecting
        served.wait_ready(503)
        assert served.signal_and_wait(signal.SIGTERM) == 0, served.stderr
    finally:
        served.kill()
    served.assert_clean_log(max_retry_lines=30)
    assert served.count("lost the NATS connection") == 2, served.stderr


@pytest.fixture
def plain_nats() -> EmbeddedNats:
    """A nats-server without JetStream: a spy answers nothing, so JetStream calls hang."""
    try:
        find_nats_server()
    except NatsServerNotFound as exc:
        need_external("nats-server", str(exc))
    return EmbeddedNats(jetstream=False)


@pytest.mark.nats
@pytest.mark.parametrize("service", SERVICES)
async def test_sigterm_during_a_setup_step_that_waits_on_jetstream(
    service: str, plain_nats: EmbeddedNats, tmp_path: Path
) -> None:
    with plain_nats as server:
        spy = await nats.connect(server.url)
        asked: list[str] = []

        async def never_answer(msg: Msg) -> None:
            asked.append(msg.subject)

        await spy.subscribe("$JS.API.>", cb=never_answer)
        await spy.flush()
        served = Served(service, server.url, tmp_path)
        try:
            await asyncio.to_thread(served.wait_listening)
            await wait_until(lambda: asked, what="the service's first JetStream request")
            status, body = await asyncio.to_thread(served.get, "/ready")
            assert status == 503 and body["reason"] == "setting up", body
            code = await asyncio.to_thread(served.signal_and_wait, signal.SIGTERM)
            assert code == 0, served.stderr
        finally:
            served.kill()
            await spy.close()
    served.assert_clean_log(max_retry_lines=0)


@pytest.mark.nats
@pytest.mark.parametrize("service", SERVICES)
def test_sigint_while_consuming(service: str, nats_server: EmbeddedNats, tmp_path: Path) -> None:
    served = Served(service, nats_server.url, tmp_path)
    try:
        served.wait_listening()
        served.wait_ready(200)
        assert served.signal_and_wait(signal.SIGINT) == 0, served.stderr
    finally:
        served.kill()
    served.assert_clean_log(max_retry_lines=0)
    assert served.count(f"{service}: stopped") == 1, served.stderr
