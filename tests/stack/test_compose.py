"""The compose stack's files, checked by the real tools and against what the issue asks."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need_external
from tests.stack.helpers import COMPOSE, compose_config, read, run_tool
from tradewire.consumers.alerts import load_rules
from tradewire.consumers.embedded import NatsServerNotFound, find_nats_server
from tradewire.consumers.stack import (
    COMPONENTS,
    SECRETS_DIR,
    Overrides,
    ports_for,
    render_alertmanager,
    render_prometheus,
    secret_files,
)

TRADEWIRE = ("store", "metrics", "alerts")
OBSERVABILITY = {"prometheus", "alertmanager", "grafana", "node-exporter"}


def _ports(service: dict[str, Any]) -> list[tuple[str, int]]:
    """(host address, container port) of each published port, in either compose form."""
    out = []
    for p in service.get("ports", []):
        if isinstance(p, dict):
            out.append((p.get("host_ip", ""), int(p["target"])))
        else:
            parts = str(p).split("/")[0].split(":")
            out.append((parts[0] if len(parts) == 3 else "", int(parts[-1])))
    return out


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return compose_config()


def test_docker_compose_accepts_the_file_and_its_profile(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) == {"nats", *TRADEWIRE, *OBSERVABILITY}
    profiled = {name for name, s in services.items() if "observability" in s.get("profiles", [])}
    assert profiled == OBSERVABILITY


def test_images_are_pinned_and_tradewire_is_built_from_the_repo(config: dict[str, Any]) -> None:
    for name, s in config["services"].items():
        image = s["image"]
        tag = image.rpartition(":")[2]
        assert tag != image and re.search(r"\d+\.\d+", tag), f"{name}: {image} is not pinned"
    nats = config["services"]["nats"]["image"]
    major, minor = (int(x) for x in re.findall(r"\d+", nats.rpartition(":")[2])[:2])
    assert (major, minor) >= (2, 12), nats
    for name in TRADEWIRE:
        build = config["services"][name]["build"]
        assert Path(build["context"]) == COMPOSE.parent
        assert (Path(build["context"]) / build["dockerfile"]).is_file()


def test_ports_are_loopback_except_grafana(config: dict[str, Any]) -> None:
    for name, s in config["services"].items():
        assert _ports(s), name
        for host, port in _ports(s):
            if name == "grafana":
                assert host != "127.0.0.1"
            else:
                assert host == "127.0.0.1", f"{name}: {port} on {host or 'every address'}"


def test_every_service_has_a_healthcheck_and_tradewire_ones_ask_ready(
    config: dict[str, Any],
) -> None:
    for name, s in config["services"].items():
        assert s.get("healthcheck", {}).get("test"), name
    ports = {c.name: c.port for c in COMPONENTS}
    for name in TRADEWIRE:
        test = " ".join(config["services"][name]["healthcheck"]["test"])
        assert f"127.0.0.1:{ports[name]}/ready" in test


def test_state_lives_in_named_volumes(config: dict[str, Any]) -> None:
    named = set(config["volumes"])
    wanted = {"nats": "/data", "store": "/var/lib/tradewire", "prometheus": "/prometheus"}
    wanted |= {"alertmanager": "/alertmanager", "grafana": "/var/lib/grafana"}
    for name, target in wanted.items():
        mounts = {v.split(":")[1]: v.split(":")[0] for v in config["services"][name]["volumes"]}
        assert mounts[target] in named, f"{name}: {target} is not a named volume"


def test_the_process_stack_addresses_are_the_compose_ones(config: dict[str, Any]) -> None:
    """The table `tradewire stack` renders addresses from is what compose publishes."""
    published = {
        f"{name}:{port}" for name, s in config["services"].items() for _, port in _ports(s)
    }
    for c in COMPONENTS:
        assert f"{c.process}:{c.port}" in published, c


def test_the_process_stack_uses_files_compose_mounts(config: dict[str, Any]) -> None:
    mounted = {
        Path(v.split(":")[0])
        for s in config["services"].values()
        for v in s.get("volumes", [])
        if v.startswith("/")
    }
    used = [
        COMPOSE / "nats/nats.conf",
        COMPOSE / "tradewire/tradewire.toml",
        COMPOSE / "tradewire/alerts.yaml",
        COMPOSE / "prometheus/prometheus.yml",
        COMPOSE / "alertmanager/alertmanager.yml",
        COMPOSE / "alertmanager/secrets-from-env.sh",
    ]
    for path in used:
        assert any(path == m or m in path.parents for m in mounted), path


def test_alertmanager_gets_every_secret_it_reads_from_the_environment(
    config: dict[str, Any],
) -> None:
    am = config["services"]["alertmanager"]
    passed = set(am["environment"])
    files = secret_files(COMPOSE / "alertmanager/alertmanager.yml")
    wanted = {"TRADEWIRE_AM_SECRET_" + f.upper() for f in files}
    assert wanted == passed
    assert any(SECRETS_DIR in t for t in am["tmpfs"])
    example = (COMPOSE / ".env.example").read_text()
    assert all(f"{v}=" in example for v in wanted)


def test_promtool_accepts_the_config_and_every_rule_file(tmp_path: Path) -> None:
    run_tool("promtool", "check", "config", str(COMPOSE / "prometheus/prometheus.yml"))
    rules = sorted((COMPOSE / "prometheus/rules").glob("*.yml"))
    assert {r.name for r in rules} >= {"tradewire.rules.yml", "seed_playbooks.yml", "stack.yml"}
    out = run_tool("promtool", "check", "rules", *map(str, rules))
    assert out.count("SUCCESS") == len(rules)
    # and as the process stack renders it, with its own ports and a 1 s scrape
    rendered = tmp_path / "prometheus.yml"
    over = Overrides(scrape_interval="1s", evaluation_interval="1s")
    rendered.write_text(
        render_prometheus(COMPOSE / "prometheus/prometheus.yml", ports_for(31000, {}), over)
    )
    run_tool("promtool", "check", "config", str(rendered))


def test_amtool_accepts_the_config_canonical_and_rendered(tmp_path: Path) -> None:
    source = COMPOSE / "alertmanager/alertmanager.yml"
    run_tool("amtool", "check-config", str(source))
    rendered = tmp_path / "am.yml"
    over = Overrides(am_global={"smtp_require_tls": "false", "smtp_smarthost": "127.0.0.1:25"})
    rendered.write_text(render_alertmanager(source, ports_for(None, {}), tmp_path / "s", over))
    run_tool("amtool", "check-config", str(rendered))


@pytest.mark.parametrize(
    ("severity", "receivers"),
    [
        ("critical", "pagerduty,slack-urgent"),
        ("high", "slack-urgent"),
        ("warning", "slack-dev"),
        ("medium", "slack-dev"),
        ("info", "email"),
        ("low", "email"),
        ("", "slack-dev"),
    ],
)
def test_routing_tree_sends_each_severity_where_the_playbook_says(
    severity: str, receivers: str
) -> None:
    labels = ["alertname=X", "bot=b1"] + ([f"severity={severity}"] if severity else [])
    out = run_tool(
        "amtool",
        "config",
        "routes",
        "test",
        f"--config.file={COMPOSE / 'alertmanager/alertmanager.yml'}",
        *labels,
    )
    assert out.strip() == receivers


def test_nats_server_accepts_its_config() -> None:

    try:
        binary = find_nats_server()
    except NatsServerNotFound as exc:
        need_external("nats-server", str(exc))

    result = subprocess.run(
        [str(binary), "-c", str(COMPOSE / "nats/nats.conf"), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    conf = (COMPOSE / "nats/nats.conf").read_text()
    assert "jetstream" in conf and "store_dir" not in conf  # given with -sd by both


def test_the_alerts_service_rules_file_loads_and_posts_to_alertmanager() -> None:
    rules = load_rules(COMPOSE / "tradewire/alerts.yaml")
    assert [r.name for r in rules.rules]
    (receiver,) = rules.receivers
    assert receiver["type"] == "alertmanager" and receiver["url"] == "http://alertmanager:9093"
    assert set(receiver["severities"]) == {"info", "warning", "critical"}


def test_grafana_is_provisioned_with_the_datasource_the_dashboards_name() -> None:
    ds = read(COMPOSE / "grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert [d["uid"] for d in ds] == ["tradewire-prometheus"]
    assert ds[0]["url"] == "http://prometheus:9090"
    providers = read(COMPOSE / "grafana/provisioning/dashboards/tradewire.yml")["providers"]
    assert providers[0]["options"]["path"] == "/etc/grafana/dashboards"
