"""Store settings: precedence and clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tradewire.consumers.store import ConfigError, load_store_config


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    f = tmp_path / "store.toml"
    f.write_text('[store]\ndb = "file.duckdb"\nmax_batch = 100\nhttp_port = 9000\n')
    env = {"TRADEWIRE_STORE_MAX_BATCH": "200", "TRADEWIRE_NATS_URL": "nats://env:4222"}
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
        ("", {"TRADEWIRE_STORE_HTTP_PORT": "http"}, "http_port"),
        ("", {"TRADEWIRE_STORE_MAX_BATCH": "0"}, "max_batch"),
        ("", {"TRADEWIRE_STORE_MAX_WAIT_S": "60"}, "max_wait_s"),
        ("", {"TRADEWIRE_STORE_ROOT": "a..b"}, "root"),
    ],
)
def test_errors_name_the_setting(
    tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    f = tmp_path / "store.toml"
    f.write_text(toml)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_store_config(f, {}, env)


def test_a_file_for_other_services_only_is_said_to_be_unread(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    f = tmp_path / "fleet.toml"
    f.write_text("[metrics]\nhttp_port = 9000\n[alerts]\ntick_s = 2\n")
    cfg = load_store_config(f, {}, {})
    assert cfg.http_port != 9000
    assert "no [store] table and no top-level settings: nothing in it is read" in caplog.text
    caplog.clear()
    f.write_text("[store]\nmax_batch = 100\n[metrics]\nhttp_port = 9000\n")
    assert load_store_config(f, {}, {}).max_batch == 100
    assert "nothing in it is read" not in caplog.text


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_store_config(tmp_path / "nope.toml", {}, {})


def test_each_service_reads_its_own_env_and_shares_only_fleet_settings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Services on one host must not read each other's settings from the environment."""
    from tradewire.consumers.alerts import load_alerts_config
    from tradewire.consumers.metrics import load_metrics_config

    env = {
        "TRADEWIRE_STORE_HTTP_PORT": "9301",
        "TRADEWIRE_METRICS_HTTP_PORT": "9302",
        "TRADEWIRE_ALERTS_HTTP_PORT": "9303",
        "TRADEWIRE_NATS_URL": "nats://shared:4222",
        "TRADEWIRE_ALERTS_NATS_URL": "nats://alerts-only:4222",
        "TRADEWIRE_ROOT": "fleet-b",
        "TRADEWIRE_MAX_BATCH": "7",  # not a fleet-wide setting: read by nobody, and said so
    }
    store = load_store_config(None, {}, env)
    metrics = load_metrics_config(None, {}, env)
    alerts = load_alerts_config(None, {}, env)
    assert (store.http_port, metrics.http_port, alerts.http_port) == (9301, 9302, 9303)
    assert store.nats_url == metrics.nats_url == "nats://shared:4222"
    assert alerts.nats_url == "nats://alerts-only:4222"  # the service's own name wins
    assert store.max_batch == 20_000 and metrics.max_batch == 5000
    assert "TRADEWIRE_STORE_MAX_BATCH" in caplog.text
    # Names of what each service creates on NATS follow the root.
    assert store.durable == "fleet-b-store" and store.alerts_durable == "fleet-b-store-alerts"
    assert metrics.durable == "fleet-b-metrics" and metrics.alerts_bucket == "fleet-b_alerts"
    assert alerts.durable == "fleet-b-alerts" and alerts.state_bucket == "fleet-b_alerts"
