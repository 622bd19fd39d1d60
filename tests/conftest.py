"""Shared fixtures: a real nats-server on loopback, fresh for each test that asks for one.

A test that needs nats-server skips when none can be found, unless
TRADEWIRE_REQUIRE_EXTERNAL=1 (as in CI), where the skip becomes a failure.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.aio.client import Client

from tradewire.consumers.embedded import EmbeddedNats, NatsServerNotFound, find_nats_server
from tradewire.publisher import ensure_events_stream
from tradewire.schemas import Subjects

REQUIRE_EXTERNAL = os.environ.get("TRADEWIRE_REQUIRE_EXTERNAL") == "1"


def need_external(what: str, reason: str) -> None:
    """Skip for lack of an external binary, or fail when CI requires it."""
    message = f"{what} not available: {reason}"
    if REQUIRE_EXTERNAL:
        pytest.fail(f"{message} (TRADEWIRE_REQUIRE_EXTERNAL=1)")
    pytest.skip(message)


@pytest.fixture
def nats_server() -> Iterator[EmbeddedNats]:
    try:
        find_nats_server()
    except NatsServerNotFound as exc:
        need_external("nats-server", str(exc))
    server = EmbeddedNats().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def subjects() -> Subjects:
    return Subjects()


@pytest.fixture
async def nc(nats_server: EmbeddedNats, subjects: Subjects) -> AsyncIterator[Client]:
    """A client on the test server, with the events stream created."""
    client = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    await ensure_events_stream(client, subjects)
    yield client
    await client.close()
