"""Rendering compose/'s files for the process stack, ports, and the CLI's one-line errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from tests.stack.helpers import COMPOSE, free_ports
from tradewire.consumers.cli import main
from tradewire.consumers.stack import (
    COMPONENTS,
    Overrides,
    StackError,
    find_compose_dir,
    ports_for,
    render_alertmanager,
    render_prometheus,
    render_rules,
)

PORTS = ports_for(30000, {})


def test_ports_default_to_compose_then_base_then_overrides() -> None:
    assert ports_for(None, {}) == {c.name: c.port for c in COMPONENTS}
    assert sorted(PORTS.values()) == list(range(30000, 30000 + len(COMPONENTS)))
    assert ports_for(30000, {"prometheus": 19090})["prometheus"] == 19090


@pytest.mark.parametrize(
    ("base", "over", "message"),
    [
        (None, {"grafana": 3000}, "unknown component grafana"),
        (None, {"store": 70000}, "out of range"),
        (None, {"store": 9090}, "port 9090 given to both"),
        (65530, {}, "out of range"),
    ],
)
def test_bad_ports_are_refused(base: int | None, over: dict[str, int], message: str) -> None:
    with pytest.raises(StackError, match=message):
        ports_for(base, over)


def test_prometheus_targets_rules_and_intervals_are_rendered() -> None:
    source = COMPOSE / "prometheus/prometheus.yml"
    data = yaml.safe_load(render_prometheus(source, PORTS, Overrides(scrape_interval="1s")))
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in data["scrape_configs"]
    }
    assert targets["tradewire-metrics"] == [f"127.0.0.1:{PORTS['metrics']}"]
    assert targets["node"] == [f"127.0.0.1:{PORTS['node-exporter']}"]
    am = data["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am == [f"127.0.0.1:{PORTS['alertmanager']}"]
    assert data["rule_files"] == [str(COMPOSE / "prometheus/rules/*.yml")]
    assert data["global"]["scrape_interval"] == "1s"
    assert data["global"]["evaluation_interval"] == "15s"  # not overridden: the file's
    assert data["global"]["external_labels"] == {"monitor": "tradewire"}
    canonical = yaml.safe_load(source.read_text())
    assert "alertmanager:9093" in str(canonical)  # the file itself is untouched


def test_alertmanager_secrets_move_and_overrides_apply(tmp_path: Path) -> None:
    source = COMPOSE / "alertmanager/alertmanager.yml"
    over = Overrides(
        group_wait="1s",
        group_interval="2s",
        am_global={"smtp_require_tls": "false", "pagerduty_url": "http://127.0.0.1:1/pd"},
    )
    text = render_alertmanager(source, PORTS, tmp_path, over)
    data = yaml.safe_load(text)
    assert "/run/alertmanager-secrets" not in text
    pd = data["receivers"][0]["pagerduty_configs"][0]
    assert pd["routing_key_file"] == str(tmp_path / "pagerduty_routing_key")
    assert data["global"]["smtp_auth_password_file"] == str(tmp_path / "smtp_password")
    assert data["global"]["smtp_require_tls"] is False
    assert data["global"]["pagerduty_url"] == "http://127.0.0.1:1/pd"
    assert (data["route"]["group_wait"], data["route"]["group_interval"]) == ("1s", "2s")
    assert data["route"]["routes"] == yaml.safe_load(source.read_text())["route"]["routes"]


def test_the_alerts_service_posts_to_the_stack_alertmanager() -> None:
    data = yaml.safe_load(render_rules(COMPOSE / "tradewire/alerts.yaml", PORTS))
    assert data["receivers"][0]["url"] == f"http://127.0.0.1:{PORTS['alertmanager']}"


def test_unknown_hosts_are_left_alone(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text("receivers:\n- url: http://alertmanager:9999\n- url: https://hooks.example:443\n")
    data = yaml.safe_load(render_rules(f, PORTS))
    assert [r["url"] for r in data["receivers"]] == [
        "http://alertmanager:9999",
        "https://hooks.example:443",
    ]


def test_compose_dir_is_found_or_named(tmp_path: Path) -> None:
    assert find_compose_dir() == COMPOSE
    with pytest.raises(StackError, match=r"no docker-compose\.yml in"):
        find_compose_dir(tmp_path)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def test_up_refuses_a_busy_port_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = dict(zip((c.name for c in COMPONENTS), free_ports(len(COMPONENTS)), strict=True))
        ports["prometheus"] = port
        flags = [f"--port={name}={p}" for name, p in ports.items()]
        code, err = run(["stack", "up", "--state-dir", str(tmp_path), *flags], capsys)
    assert code == 2
    assert f"port {port} (prometheus) is in use" in err and err.count("\n") == 1
    assert not (tmp_path / "stack.json").exists()


def test_status_and_down_without_a_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(["stack", "status", "--state-dir", str(tmp_path)], capsys)
    assert code == 2 and "no stack in" in err
    assert main(["stack", "down", "--state-dir", str(tmp_path)]) == 0
    assert "nothing was running" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "prometheus"], "expected NAME=PORT"),
        (["--port", "prometheus=x"], "expected NAME=PORT"),
        (["--am-global", "=1"], "expected KEY=VALUE"),
    ],
)
def test_bad_flags_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["stack", "up", *argv])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
