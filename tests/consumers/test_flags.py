"""Every documented option reaches the setting it names (a flag was once silently ignored)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import wait_until_sync
from tradewire.consumers.alerts import AlertsConfig
from tradewire.consumers.cli import build_parser, main
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsConfig
from tradewire.consumers.runtime import ConsumerService
from tradewire.consumers.simulate import FaultRates, SimulationConfig, SimulationResult
from tradewire.consumers.store import StoreConfig

CONFIGS: dict[str, type[Any]] = {
    "store": StoreConfig,
    "metrics": MetricsConfig,
    "alerts": AlertsConfig,
}
ONE_RULE = """rules:
  - name: OnlyRule
    kind: absence
    event: heartbeat
    critical: 120
"""


def _subparser(parser: argparse.ArgumentParser, *path: str) -> argparse.ArgumentParser:
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


@pytest.mark.parametrize("service", sorted(CONFIGS))
def test_every_serve_option_is_a_setting(service: str) -> None:
    parser = _subparser(build_parser(), "serve", service)
    dests = {a.dest for a in parser._actions if a.option_strings and a.dest != "help"}
    assert dests - {"config"} <= set(CONFIGS[service].__struct_fields__)


def _common(service: str) -> list[tuple[str, list[str], str, object]]:
    return [
        (service, ["--nats-url", "nats://10.0.0.9:4222"], "nats_url", "nats://10.0.0.9:4222"),
        (service, ["--root", "fleet-z"], "root", "fleet-z"),
        (service, ["--http-host", "0.0.0.0"], "http_host", "0.0.0.0"),
        (service, ["--http-port", "9999"], "http_port", 9999),
        (service, ["--web-config", "web.yml"], "web_config", "web.yml"),
        (service, ["--nats-creds", "x.creds"], "nats_creds", "x.creds"),
        (service, ["--nats-nkey-seed", "x.nk"], "nats_nkey_seed", "x.nk"),
        (service, ["--nats-user", "svc"], "nats_user", "svc"),
        (service, ["--nats-password-file", "pw"], "nats_password_file", "pw"),
        (service, ["--nats-tls-ca", "ca.crt"], "nats_tls_ca", "ca.crt"),
        (service, ["--nats-tls-cert", "c.crt"], "nats_tls_cert", "c.crt"),
        (service, ["--nats-tls-key", "c.key"], "nats_tls_key", "c.key"),
        (service, ["--nats-inbox-prefix", "_I.x"], "nats_inbox_prefix", "_I.x"),
    ]


CASES = [
    *_common("store"),
    *_common("metrics"),
    *_common("alerts"),
    ("store", ["--db", "x.duckdb"], "db", "x.duckdb"),
    ("store", ["--max-batch", "77"], "max_batch", 77),
    ("store", ["--max-wait-s", "0.25"], "max_wait_s", 0.25),
    ("metrics", ["--metric-prefix", "gpt_trader"], "metric_prefix", "gpt_trader"),
    ("metrics", ["--profiles", "tradewire,bot"], "profiles", "tradewire,bot"),
    ("alerts", ["--rules", "RULES"], "rules", "RULES"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}{c[1][0]}")
def test_serve_option_reaches_its_setting(
    case: tuple[str, list[str], str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, argv, setting, expected = case
    rules = tmp_path / "one.yaml"
    rules.write_text(ONE_RULE)
    seen: list[ConsumerService] = []

    async def record(self: ConsumerService, **_: object) -> int:
        seen.append(self)
        return 0

    monkeypatch.setattr(ConsumerService, "run", record)
    argv = [str(rules) if a == "RULES" else a for a in argv]
    expected = str(rules) if expected == "RULES" else expected
    url = [] if "--nats-url" in argv else ["--nats-url", "nats://127.0.0.1:4222"]
    assert main(["serve", service, *argv, *url]) == 0
    assert getattr(seen[0].service_config, setting) == expected
    if setting == "rules":  # ... and the service runs those rules, not the defaults
        assert list(seen[0].engine.rules) == ["OnlyRule"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "one.yaml"),  # missing
        ("rules:\n  - name: Broken\n    kind: nope\n", "one.yaml:3"),
    ],
)
def test_serve_alerts_refuses_a_missing_or_broken_rules_file(
    content: str | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "one.yaml"
    if content is not None:
        rules.write_text(content)
    assert main(["serve", "alerts", "--rules", str(rules), "--nats-url", "nats://x:1"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.nats
def test_serve_alerts_with_a_rules_file_runs_those_rules(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    """The operator's view: a separate process, /health says how many rules run."""
    rules = tmp_path / "one.yaml"
    rules.write_text(ONE_RULE)
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tradewire.consumers.cli",
            "serve",
            "alerts",
            "--rules",
            str(rules),
            "--http-port",
            str(port),
        ],
        env={**os.environ, "TRADEWIRE_NATS_URL": nats_server.url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    health: dict[str, Any] = {}

    def ready() -> bool:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                health.update(json.loads(r.read()))
        except OSError:
            return False
        return bool(health.get("ready"))

    try:
        wait_until_sync(ready, timeout=30, what="serve alerts to be ready")
        assert health["checks"]["alerts"]["details"]["rules"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        if proc.stderr:
            proc.stderr.close()


SIMULATE_CASES: list[tuple[list[str], str, object]] = [
    (["--bots", "3"], "bots", 3),
    (["--rate", "7.5"], "rate", 7.5),
    (["--duration", "0.5"], "duration", 0.5),
    (["--seed", "42"], "seed", 42),
    (["--root", "fleet-q"], "root", "fleet-q"),
    (["--scenario", "incidents", "--bots", "6"], "scenario", "incidents"),
    *[
        ([f"--{name.replace('_', '-')}-rate", "0.5"], f"faults.{name}", 0.5)
        for name in vars(FaultRates())
    ],
]


@pytest.mark.nats
@pytest.mark.parametrize("case", SIMULATE_CASES, ids=lambda c: c[0][0])
def test_simulate_option_reaches_its_setting(
    case: tuple[list[str], str, object], nats_server: EmbeddedNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradewire.consumers import cli

    argv, setting, expected = case
    seen: list[SimulationConfig] = []

    async def record(url: str, config: SimulationConfig, *args: object, **kw: object) -> object:
        seen.append(config)
        return SimulationResult([])

    monkeypatch.setattr(cli, "run_simulation", record)
    main(["simulate", "--nats-url", nats_server.url, *argv])
    value: object = seen[0]
    for part in setting.split("."):
        value = getattr(value, part)
    assert value == expected
