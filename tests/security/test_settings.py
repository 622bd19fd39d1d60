"""Credential settings: one name each across publisher, services and CLI; never shared
between services; checked before any connection attempt."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from tradewire.consumers.auth import new_seed
from tradewire.consumers.store import load_store_config
from tradewire.publisher import NatsAuth, NatsAuthError, PublisherConfig


def _seed_file(tmp_path: Path) -> tuple[Path, str]:
    seed, public_key = new_seed()
    path = tmp_path / "me.nk"
    path.write_bytes(seed + b"\n")
    return path, public_key


def test_credentials_are_per_service_and_the_ca_is_shared(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {
        "TRADEWIRE_NATS_NKEY_SEED": "/the/operators.nk",  # the CLI's, in the same shell
        "TRADEWIRE_STORE_NATS_NKEY_SEED": "/the/store.nk",
        "TRADEWIRE_NATS_TLS_CA": "/the/ca.crt",
        "TRADEWIRE_WEB_CONFIG": "/the/web.yml",
    }
    config = load_store_config(None, {}, env=env)
    assert config.nats_nkey_seed == "/the/store.nk"
    assert (config.nats_tls_ca, config.web_config) == ("/the/ca.crt", "/the/web.yml")
    with caplog.at_level(logging.WARNING):
        config = load_store_config(None, {}, env={"TRADEWIRE_NATS_NKEY_SEED": "/x.nk"})
    assert config.nats_nkey_seed == ""
    assert "use TRADEWIRE_STORE_NATS_NKEY_SEED" in caplog.text


def test_the_publisher_reads_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, public_key = _seed_file(tmp_path)
    monkeypatch.setenv("TRADEWIRE_NATS_NKEY_SEED", str(path))
    auth = PublisherConfig().auth
    assert auth is not None and auth.nkey_seed == str(path)
    assert auth.inbox() == f"_INBOX.{public_key}"  # replies below the key's own prefix
    assert auth.connect_options()["nkeys_seed"] == str(path)


def test_inbox_prefix_follows_the_credential(tmp_path: Path) -> None:
    assert NatsAuth().inbox() == "_INBOX"
    assert NatsAuth(user="svc", password="p").inbox() == "_INBOX.svc"
    assert NatsAuth(user="a b", password="p").inbox() == "_INBOX"  # not a subject token
    assert NatsAuth(inbox_prefix="_I.me").inbox() == "_I.me"
    creds = tmp_path / "u.creds"
    seed, public_key = new_seed()
    creds.write_bytes(
        b"-----BEGIN NATS USER JWT-----\neyJ0eXAi.x.y\n------END NATS USER JWT------\n\n"
        b"-----BEGIN USER NKEY SEED-----\n" + seed + b"\n------END USER NKEY SEED------\n"
    )
    assert NatsAuth(creds=str(creds)).inbox() == f"_INBOX.{public_key}"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nkey_seed": "SEED", "user": "u"}, "one of creds, nkey_seed or user"),
        ({"password": "p"}, "needs nats_user"),
        ({"user": "u", "password": "p", "password_file": "f"}, "not both"),
        ({"tls_cert": "c"}, "go together"),
        ({"nkey_seed": "/no/such.nk"}, "not a readable file"),
        ({"nkey_seed": "NOTASEED"}, "no nkey seed in it"),
        ({"inbox_prefix": "a b"}, "not a subject prefix"),
    ],
)
def test_settings_that_cannot_work_are_refused(
    kwargs: dict[str, str], message: str, tmp_path: Path
) -> None:
    if kwargs.get("nkey_seed") == "SEED":
        kwargs["nkey_seed"] = str(_seed_file(tmp_path)[0])
    if kwargs.get("nkey_seed") == "NOTASEED":
        bad = tmp_path / "bad.nk"
        bad.write_text("hello\n")
        kwargs["nkey_seed"] = str(bad)
    with pytest.raises(NatsAuthError, match=message):
        NatsAuth(**kwargs).check()


def test_an_nkey_without_the_nkeys_package_says_which_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bare publisher does not install nkeys (a bot gets msgspec and nats-py only)."""
    path, _ = _seed_file(tmp_path)
    monkeypatch.setitem(sys.modules, "nkeys", None)  # import nkeys raises ImportError
    with pytest.raises(NatsAuthError, match=r"tradewire-publisher\[nkeys\]"):
        NatsAuth(nkey_seed=str(path)).check()


def test_repr_hides_the_password() -> None:
    assert "hunter2" not in repr(NatsAuth(user="u", password="hunter2"))
