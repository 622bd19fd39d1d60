"""A fleet's identities (``tradewire auth``) and a nats-server that enforces them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from nats.aio.client import Client

from tests.conftest import need_external
from tradewire.consumers.auth import SERVICES, AuthDir
from tradewire.consumers.embedded import EmbeddedNats, NatsServerNotFound, find_nats_server
from tradewire.consumers.store import StoreConfig, StoreService
from tradewire.publisher import NatsAuth, Publisher

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


def bot_publisher(
    server: EmbeddedNats, fleet: AuthDir, bot: str, outbox: Path, *, key: str = "", **kw: Any
) -> Publisher:
    """A bot's publisher with ``key``'s credential (default: the bot's own)."""
    kw.setdefault("heartbeat_interval_s", 0)
    return Publisher(bot, url=server.url, auth=auth_of(fleet, key or bot), outbox_dir=outbox, **kw)


@contextmanager
def nats_with(config: Path, *, tls: bool = False) -> Iterator[EmbeddedNats]:
    """nats-server with JetStream and ``config`` loaded, stopped afterwards."""
    try:
        find_nats_server()
    except NatsServerNotFound as exc:
        need_external("nats-server", str(exc))
    server = EmbeddedNats(config=config, tls=tls).start()
    try:
        yield server
    finally:
        server.close()


async def assert_connect_refused(url: str, auth: NatsAuth) -> None:
    """The server refuses this credential at connect (revoked, rotated, unknown)."""
    client = Client()
    try:
        with pytest.raises(nats.errors.Error, match=r"(?i)authorization violation"):
            await client.connect(url, allow_reconnect=False, **auth.connect_options())
    finally:
        await asyncio.wait_for(client.close(), 5)


@pytest.fixture
def secure_nats(fleet: AuthDir) -> Iterator[EmbeddedNats]:
    """nats-server with JetStream and the fleet's generated include as its config."""
    with nats_with(fleet.include_path) as server:
        yield server


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
