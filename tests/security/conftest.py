"""A fleet's identities (``tradewire auth``) and a nats-server that enforces them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from tests.conftest import need_external
from tradewire.consumers.auth import SERVICES, AuthDir
from tradewire.consumers.embedded import EmbeddedNats, NatsServerNotFound, find_nats_server
from tradewire.consumers.store import StoreConfig, StoreService
from tradewire.publisher import NatsAuth

BOTS = ("bot-a", "bot-b")


@pytest.fixture
def fleet(tmp_path: Path) -> AuthDir:
    auth = AuthDir.create(tmp_path / "auth", "tradewire")
    for role in SERVICES:
        auth.add(role, role)
    auth.add("operator", "ana")
    for bot in BOTS:
        auth.add("bot", bot)
    return auth


def auth_of(fleet: AuthDir, name: str, role: str | None = None) -> NatsAuth:
    """The credential of one identity of the fleet, as its holder would configure it."""
    return NatsAuth(nkey_seed=str(fleet.seed_path(fleet.find(name, role))))


@pytest.fixture
def secure_nats(fleet: AuthDir) -> Iterator[EmbeddedNats]:
    """nats-server with JetStream and the fleet's generated include as its config."""
    try:
        find_nats_server()
    except NatsServerNotFound as exc:
        need_external("nats-server", str(exc))
    server = EmbeddedNats(config=fleet.include_path).start()
    try:
        yield server
    finally:
        server.close()


class Clients:
    """Clients connected as fleet identities; each one's async errors are kept."""

    def __init__(self, server: EmbeddedNats, fleet: AuthDir) -> None:
        self.server = server
        self.fleet = fleet
        self.errors: dict[str, list[str]] = {}
        self.opened: list[Client] = []

    async def connect(self, name: str, role: str | None = None, **options: object) -> Client:
        errors = self.errors.setdefault(name, [])

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        client = await nats.connect(
            self.server.url,
            error_cb=on_error,
            allow_reconnect=False,
            **auth_of(self.fleet, name, role).connect_options(),
            **options,
        )
        self.opened.append(client)
        return client

    async def close(self) -> None:
        for client in self.opened:
            if not client.is_closed:
                await client.close()


@pytest.fixture
async def clients(secure_nats: EmbeddedNats, fleet: AuthDir) -> AsyncIterator[Clients]:
    made = Clients(secure_nats, fleet)
    yield made
    await made.close()


def store_config(server: EmbeddedNats, fleet: AuthDir, tmp_path: Path, **kw: object) -> StoreConfig:
    return StoreConfig(
        nats_url=server.url,
        db=str(tmp_path / "store.duckdb"),
        http_port=0,
        max_wait_s=0.1,
        nats_nkey_seed=str(fleet.seed_path(fleet.find("store"))),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def secure_store(
    secure_nats: EmbeddedNats, fleet: AuthDir, tmp_path: Path
) -> AsyncIterator[StoreService]:
    """The store, connected with its own key (it creates the streams)."""
    service = StoreService(store_config(secure_nats, fleet, tmp_path))
    task = await service.start(20)
    yield service
    service.stop()
    assert await task == 0
