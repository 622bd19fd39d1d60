"""``tradewire auth``: the files it writes, the server accepting them, and changes that
take effect with a reload."""

from __future__ import annotations

import asyncio
import io
import json
import stat
import subprocess
import sys
from pathlib import Path

import bcrypt
import pytest

from tests.conftest import need_external
from tests.security.conftest import Clients, assert_connect_refused, auth_of
from tests.waiting import wait_until_sync
from tradewire.consumers.auth import FLEET_FILE, AuthDir, render_include
from tradewire.consumers.cli import main
from tradewire.consumers.embedded import EmbeddedNats, NatsServerNotFound, find_nats_server
from tradewire.publisher import NatsAuth, read_seed
from tradewire.schemas import Mark, Subjects, encode


def _server_accepts(config: Path) -> None:
    try:
        binary = find_nats_server()
    except NatsServerNotFound as exc:
        need_external("nats-server", str(exc))
    result = subprocess.run(
        [str(binary), "-t", "-c", str(config)],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_init_writes_keys_for_every_role_and_an_include_the_server_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "auth"
    argv = ["auth", "init", "--dir", str(directory), "--bot", "b1", "--operator", "ana"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    fleet = AuthDir.open(directory)
    assert sorted((i.role, i.name) for i in fleet.identities) == [
        ("alerts", "alerts"),
        ("bot", "b1"),
        ("metrics", "metrics"),
        ("operator", "ana"),
        ("store", "store"),
    ]
    public = (directory / FLEET_FILE).read_text() + fleet.include_path.read_text() + out
    for identity in fleet.identities:
        seed_path = fleet.seed_path(identity)
        assert stat.S_IMODE(seed_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(seed_path.parent.stat().st_mode) == 0o700
        assert read_seed(seed_path).decode() not in public  # only public keys are shown
        assert identity.public_key in public
    _server_accepts(fleet.include_path)
    assert main(argv) == 2  # a second init would orphan the first one's keys
    assert "set up already" in capsys.readouterr().err


def test_a_root_with_dots_renders_a_valid_include(tmp_path: Path) -> None:
    fleet = AuthDir.create(tmp_path, "prod.fleet-a")
    bot = fleet.add("bot", "b-1")
    fleet.add("store", "store")
    text = render_include(fleet.root, fleet.identities)
    assert '"prod.fleet-a.evt.b-1.>"' in text and f'"_INBOX.{bot.public_key}.>"' in text
    assert '"$JS.API.STREAM.UPDATE.PROD_FLEET_A_EVENTS"' in text
    _server_accepts(fleet.include_path)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add-bot", "bot a"], "not a valid bot name"),
        (["add-bot", "bot-a"], "exists"),
        (["revoke", "nobody"], "no live identity"),
        (["instances", "store=3", "--stream-partitions", "2"], "1 to the stream's partitions"),
        (["instances", "web=2", "--stream-partitions", "12"], "unknown service 'web'"),
        (["instances", "store:2", "--stream-partitions", "12"], "SERVICE=N, e.g. store=2"),
    ],
)
def test_bad_changes_are_refused_with_one_line(
    argv: list[str], message: str, fleet: AuthDir, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["auth", *argv, "--dir", str(fleet.path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_list_shows_live_identities_and_revoked_ones_on_request(
    fleet: AuthDir, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["auth", "revoke", "bot-b", "--dir", str(fleet.path)]) == 0
    capsys.readouterr()
    assert main(["auth", "list", "--dir", str(fleet.path), "--format", "json"]) == 0
    names = {i["name"] for i in json.loads(capsys.readouterr().out)["identities"]}
    assert "bot-b" not in names and {"bot-a", "ana", "store"} <= names
    assert main(["auth", "list", "--dir", str(fleet.path), "--all"]) == 0
    assert "bot-b" in capsys.readouterr().out


def test_hash_password_makes_a_bcrypt_hash_for_web_yml(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("scrape-pw\n"))
    assert main(["auth", "hash-password", "--cost", "4"]) == 0
    hashed = capsys.readouterr().out.strip()
    assert bcrypt.checkpw(b"scrape-pw", hashed.encode())


@pytest.mark.nats
async def test_add_bot_and_rotate_take_effect_with_the_reload_they_send(
    secure_nats: EmbeddedNats, fleet: AuthDir, clients: Clients, tmp_path: Path
) -> None:
    """``--reload PID`` sends SIGHUP; the new bot can publish, a rotated key is replaced."""
    subjects = Subjects()
    assert secure_nats.proc is not None
    pid = str(secure_nats.proc.pid)
    ana = await clients.connect("ana")
    await ana.jetstream().add_stream(name=subjects.events_stream, subjects=["tradewire.evt.>"])
    offset = secure_nats.log_path.stat().st_size

    def reloaded(times: int) -> None:
        wait_until_sync(
            lambda: secure_nats.log_path.read_text()[offset:].count("Reloaded server") >= times,
            what="nats-server reloaded",
        )

    old_seed = tmp_path / "old.nk"
    old_seed.write_bytes(Path(auth_of(fleet, "bot-a").nkey_seed).read_bytes())
    args = ["--dir", str(fleet.path), "--reload", pid]
    assert await asyncio.to_thread(main, ["auth", "add-bot", "bot-c", *args]) == 0
    assert await asyncio.to_thread(main, ["auth", "rotate", "bot-a", *args]) == 0
    await asyncio.to_thread(reloaded, 2)
    fleet = AuthDir.open(fleet.path)
    clients.fleet = fleet
    for bot in ("bot-c", "bot-a"):  # the new bot, and bot-a with its new key
        client = await clients.connect(bot)
        mark = Mark(symbol="X", price=1.0, id=f"{bot}-1", bot=bot, run="r", seq=1, ts=1.7e9)
        ack = await client.request(subjects.event(bot, "mark"), encode(mark), timeout=5)
        assert b'"stream"' in ack.data
    assert old_seed.read_bytes() != Path(auth_of(fleet, "bot-a").nkey_seed).read_bytes()
    await assert_connect_refused(secure_nats.url, NatsAuth(nkey_seed=str(old_seed)))


def test_instances_are_kept_per_service_and_named_in_the_include(fleet: AuthDir) -> None:
    argv = ["auth", "instances", "--stream-partitions", "4", "--dir", str(fleet.path)]
    assert main([*argv, "store=2"]) == 0
    assert main([*argv, "alerts=3"]) == 0  # the store's count stays
    again = AuthDir.open(fleet.path)
    assert (again.instances, again.stream_partitions) == ({"store": 2, "alerts": 3}, 4)
    include = again.include_path.read_text()
    assert "tradewire-store-p1of2-s3" in include and "tradewire-alerts-p2of3-history-s2" in include
    assert "tradewire-metrics-p0of" not in include
    assert main([*argv, "store=1"]) == 0  # back to one store
    assert AuthDir.open(fleet.path).instances == {"alerts": 3}
