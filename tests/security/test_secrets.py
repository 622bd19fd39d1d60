"""Secrets never reach a log line or an error message: passwords, nkey seeds and
basic auth passwords, with debug logging on, in success and in failure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.conftest import bot_publisher, nats_with, store_config
from tests.waiting import wait_until
from tradewire.consumers._nats import NatsUnreachable, connect_client
from tradewire.consumers.auth import AuthDir
from tradewire.consumers.cli import main
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.store import StoreConfig, StoreService
from tradewire.publisher import NatsAuth, read_seed

pytestmark = pytest.mark.nats
PASSWORD = "hunter2-do-not-log-me"
WRONG = "wrong-pw-also-secret"


@pytest.fixture
def password_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    conf = tmp_path / "users.conf"
    conf.write_text(f'authorization {{ users = [ {{ user: svc, password: "{PASSWORD}" }} ] }}\n')
    with nats_with(conf) as server:
        yield server


def _everything(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    return "\n".join([caplog.text, captured.out, captured.err])


async def test_passwords_stay_out_of_logs(
    password_nats: EmbeddedNats,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_file = tmp_path / "pw"
    secret_file.write_text(PASSWORD + "\n")
    url = password_nats.url
    good = StoreService(
        StoreConfig(
            nats_url=url,
            db=str(tmp_path / "a.duckdb"),
            http_port=0,
            nats_user="svc",
            nats_password_file=str(secret_file),
        )
    )
    task = await good.start(20)
    await good._refresh()  # /health shows the URL and the last error
    health = str(good.health.health_body())
    good.stop()
    assert await task == 0
    # Wrong: the service retries, logging each attempt; its /health says why.
    bad = StoreService(
        StoreConfig(
            nats_url=f"nats://svc:{WRONG}@127.0.0.1:{password_nats.port}",
            db=str(tmp_path / "b.duckdb"),
            http_port=0,
        )
    )
    bad_task = asyncio.create_task(bad.run(install_signals=False))
    await wait_until(lambda: bad.link is not None and bad.link.backoff.attempts >= 2)
    await bad._refresh()
    health += str(bad.health.health_body())
    bad.stop()
    assert await bad_task == 0
    with pytest.raises(NatsUnreachable) as err:
        await connect_client(url, name="t", auth=NatsAuth(user="svc", password=WRONG))
    monkeypatch.setenv("TRADEWIRE_NATS_USER", "svc")
    monkeypatch.setenv("TRADEWIRE_NATS_PASSWORD", WRONG)
    code = await asyncio.to_thread(main, ["-v", "stream", "info", "--nats-url", url])
    assert code != 0
    text = _everything(caplog, capsys) + health + str(err.value)
    assert "authorization violation" in text.lower()  # the failures were logged ...
    assert PASSWORD not in text and WRONG not in text  # ... without the secrets


async def test_seeds_stay_out_of_logs(
    secure_nats: EmbeddedNats,
    fleet: AuthDir,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    store = StoreService(store_config(secure_nats, fleet, tmp_path))
    task = await store.start(20)
    async with bot_publisher(secure_nats, fleet, "bot-a", tmp_path / "o") as tel:
        tel.mark(symbol="X", price=1.0)
        assert await tel.flush(20)
    ana = str(fleet.seed_path(fleet.find("ana")))
    assert (
        await asyncio.to_thread(
            main, ["-v", "sql", "SELECT 1", "--nats-url", secure_nats.url, "--nats-nkey-seed", ana]
        )
        == 0
    )
    # bot-b's key used where it may not go: refusals are logged, the key is not.
    wrong = bot_publisher(secure_nats, fleet, "bot-a", tmp_path / "w", key="bot-b")
    await wrong.start()
    await wait_until(lambda: wrong.stats().refused >= 1)
    await wrong.close()
    store.stop()
    assert await task == 0
    text = _everything(caplog, capsys)
    assert "refused" in text and "audit action=sql" in text
    for identity in fleet.identities:
        assert read_seed(fleet.seed_path(identity)).decode() not in text
