"""Store settings: precedence and clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tradewire.consumers.store import ConfigError, load_store_config


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    f = tmp_path / "store.toml"
    f.write_text('[store]\ndb = "file.duckdb"\nmax_batch = 100\nhttp_port = 9000\n')
    env = {"TRADEWIRE_MAX_BATCH": "200", "TRADEWIRE_NATS_URL": "nats://env:4222"}
    cfg = load_store_config(f, {"http_port": 9100, "db": None}, env)
    assert cfg.db == "file.duckdb"  # file beats default; a None flag does not override
    assert cfg.max_batch == 200  # env beats file
    assert cfg.http_port == 9100  # flag beats all
    assert cfg.nats_url == "nats://env:4222"
    assert cfg.max_wait_s == 0.5  # default


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("[store]\nmax_bacth = 5\n", {}, "unknown setting(s) max_bacth"),
        ('[store]\nmax_batch = "many"\n', {}, "max_batch"),
        ("[store\n", {}, "store.toml"),
        ("", {"TRADEWIRE_HTTP_PORT": "http"}, "http_port"),
        ("", {"TRADEWIRE_MAX_BATCH": "0"}, "max_batch"),
        ("", {"TRADEWIRE_MAX_WAIT_S": "60"}, "max_wait_s"),
    ],
)
def test_errors_name_the_setting(
    tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    f = tmp_path / "store.toml"
    f.write_text(toml)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_store_config(f, {}, env)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_store_config(tmp_path / "nope.toml", {}, {})
