"""NATS over TLS with a CA generated here: the publisher, a service and the CLI's client
trust it when told to, and fail with a clear error when not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.certs import Pki, make_pki
from tests.security.conftest import nats_with
from tests.waiting import wait_until
from tradewire.consumers._nats import NatsUnreachable, connect_client
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.store import StoreService, load_store_config
from tradewire.publisher import NatsAuth, Publisher

pytestmark = pytest.mark.nats


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def _tls_conf(tmp_path: Path, pki: Pki, *, verify_clients: bool = False) -> Path:
    conf = tmp_path / "tls.conf"
    verify = f'  ca_file: "{pki.ca}"\n  verify: true\n' if verify_clients else ""
    conf.write_text(
        f'tls {{\n  cert_file: "{pki.server_cert}"\n  key_file: "{pki.server_key}"\n{verify}}}\n'
    )
    return conf


@pytest.fixture
def tls_nats(tmp_path: Path, pki: Pki) -> Iterator[EmbeddedNats]:
    with nats_with(_tls_conf(tmp_path, pki), tls=True) as server:
        yield server


async def test_store_and_publisher_over_tls_with_the_ca(
    tls_nats: EmbeddedNats, pki: Pki, tmp_path: Path
) -> None:
    assert tls_nats.url.startswith("tls://")
    # The CA is the fleet's: one shared setting serves every service.
    config = load_store_config(
        None,
        {"nats_url": tls_nats.url, "db": str(tmp_path / "s.duckdb"), "http_port": 0},
        env={"TRADEWIRE_NATS_TLS_CA": str(pki.ca)},
    )
    assert config.nats_tls_ca == str(pki.ca)
    store = StoreService(config)
    task = await store.start(20)
    try:
        async with Publisher(
            "bot-t",
            url=tls_nats.url,
            auth=NatsAuth(tls_ca=str(pki.ca)),
            outbox_dir=tmp_path / "ob",
            heartbeat_interval_s=0,
            lifecycle_events=False,
        ) as tel:
            tel.mark(symbol="X", price=1.0)
            assert await tel.flush(20)
        await wait_until(lambda: store.stored == 1)
    finally:
        store.stop()
        assert await task == 0


@pytest.mark.parametrize(
    ("ca", "hint"),
    [
        (None, "pass --nats-tls-ca or set TRADEWIRE_NATS_TLS_CA"),
        ("other", "is not signed by"),
    ],
)
async def test_a_client_without_the_ca_fails_clearly(
    tls_nats: EmbeddedNats, pki: Pki, ca: str | None, hint: str
) -> None:
    auth = NatsAuth(tls_ca=str(pki.other_ca)) if ca else NatsAuth()
    with pytest.raises(NatsUnreachable) as err:
        await connect_client(tls_nats.url, name="t", auth=auth, timeout_s=5)
    message = str(err.value)
    assert "CERTIFICATE_VERIFY_FAILED" in message and hint in message
    assert "\n" not in message


async def test_mutual_tls_needs_the_client_certificate(tmp_path: Path, pki: Pki) -> None:
    with nats_with(_tls_conf(tmp_path, pki, verify_clients=True), tls=True) as server:
        with pytest.raises(NatsUnreachable):
            await connect_client(server.url, name="t", auth=NatsAuth(tls_ca=str(pki.ca)))
        auth = NatsAuth(
            tls_ca=str(pki.ca), tls_cert=str(pki.client_cert), tls_key=str(pki.client_key)
        )
        nc = await connect_client(server.url, name="t", auth=auth)
        assert nc.is_connected
        await nc.close()
