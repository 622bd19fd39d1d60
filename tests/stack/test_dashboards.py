"""The shipped Grafana dashboards: generated, not drifted, and well formed.

Grafana cannot run here, so each dashboard is read back through grafana-foundation-sdk's
own models and checked for what Grafana would need: unique ids and refIds, the
provisioned datasource on every panel, query and variable, and every template variable
a query uses defined. The end-to-end test (test_stack_e2e.py) runs every query.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from tests.stack.helpers import COMPOSE, read
from tools.dashboards import DASHBOARDS, DATASOURCE_UID
from tools.generate_compose import generated
from tools.metric_names import METRICS
from tradewire.consumers.metrics import Aggregator, Exposition, resolve_profiles
from tradewire.consumers.runtime import PipelineMetrics, Registry

FILES = sorted((COMPOSE / "grafana/dashboards").glob("*.json"))
BUILTINS = {"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s"}

# The originals' layouts (title, x, y, w, h), for users who know them by place.
# GPT-Trader: Solders-Girdles/GPT-Trader deploy/gpt_trader/docker/grafana/dashboards/
# grafana_dashboard.json at 826e5061. TRADERAGENT: judas-priest/TRADERAGENT
# monitoring/grafana/dashboards/traderagent.json at ea5f658.
ORIGINAL_LAYOUTS = {
    "gpt-trader.json": [
        ("Account Equity", 0, 0, 12, 8),
        ("PnL Breakdown", 12, 0, 12, 8),
        ("Per-Symbol Exposure", 0, 8, 12, 8),
        ("Per-Symbol PnL", 12, 8, 12, 8),
        ("Circuit Breaker State", 0, 16, 6, 4),
        ("Cycle Latency", 6, 16, 6, 4),
        ("Open Orders", 12, 16, 4, 4),
        ("Unfilled Orders Alert", 16, 16, 4, 4),
        ("WebSocket Reconnects (1h)", 20, 16, 4, 4),
        ("Stale Marks Detected", 0, 20, 6, 4),
        ("System Resources - CPU", 6, 20, 6, 4),
        ("System Resources - Memory", 12, 20, 6, 4),
        ("Order Preview Failures", 18, 20, 6, 4),
    ],
    "traderagent.json": [
        ("Portfolio Value", 0, 0, 12, 8),
        ("Realized PnL", 12, 0, 12, 8),
        ("Active Deals", 0, 8, 6, 4),
        ("Total Trades", 6, 8, 6, 4),
        ("Bot Health", 12, 8, 6, 4),
        ("Uptime", 18, 8, 6, 4),
        ("Strategy Active", 0, 12, 8, 4),
        ("Market Regime Changes", 8, 12, 8, 4),
        ("DCA Safety Orders", 16, 12, 8, 4),
        ("API Latency", 0, 16, 12, 8),
        ("Grid Open Orders", 12, 16, 12, 8),
    ],
}


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def variables(d: dict[str, Any]) -> list[dict[str, Any]]:
    return list(d["templating"].get("list", []))


def panels(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in d["panels"] if p["type"] != "row"]


def test_committed_files_are_what_the_generator_writes() -> None:
    want = generated()
    for rel, text in want.items():
        path = COMPOSE / rel
        assert path.exists() and path.read_text() == text, (
            f"compose/{rel} drifted: run `uv run python -m tools.generate_compose`"
        )
    assert {p.name for p in FILES} == {f"{n}.json" for n in DASHBOARDS}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_dashboard_reads_back_through_grafana_models(path: Path) -> None:
    register_default_plugins()
    data = load(path)
    model = Dashboard.from_json(data)
    assert model.title and model.uid == data["uid"]
    back = json.loads(JSONEncoder(sort_keys=True).encode(model))
    for p in back["panels"]:  # decoding adds an empty `custom` to plain time series
        if p.get("fieldConfig", {}).get("defaults", {}).get("custom") == {}:
            del p["fieldConfig"]["defaults"]["custom"]
    assert back == data


def test_uids_are_unique_and_stable() -> None:
    uids = [load(p)["uid"] for p in FILES]
    assert len(set(uids)) == len(uids)
    assert "tradewire-fleet" in uids and "tradewire-bot" in uids


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_panel_query_and_variable_names_the_provisioned_datasource(path: Path) -> None:
    provisioned = read(COMPOSE / "grafana/provisioning/datasources/prometheus.yml")
    assert provisioned["datasources"][0]["uid"] == DATASOURCE_UID
    data = load(path)
    ids = [p["id"] for p in data["panels"]]
    assert len(set(ids)) == len(ids)
    for p in panels(data):
        assert p["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, p["title"]
        assert p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(set(refs)) == len(refs) and all(refs), p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == DATASOURCE_UID and t["expr"].strip()
    for v in variables(data):
        assert v["datasource"]["uid"] == DATASOURCE_UID, v["name"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_variable_a_query_uses_is_defined(path: Path) -> None:
    data = load(path)
    defined = {v["name"] for v in variables(data)}
    for p in panels(data):
        for t in p["targets"]:
            used = set(re.findall(r"\$\{?(\w+)", t["expr"])) - BUILTINS
            assert used <= defined, f"{p['title']}: {used - defined} undefined"
    for v in variables(data):  # a bot picker lists the bots Prometheus knows
        assert re.fullmatch(r"label_values\(\w+, bot\)", v["query"])


def test_bot_detail_is_templated_by_one_bot() -> None:
    data = load(COMPOSE / "grafana/dashboards/tradewire-bot.json")
    (v,) = variables(data)
    assert v["name"] == "bot" and not v["multi"]
    assert all('bot=~"$bot"' in t["expr"] for p in panels(data) for t in p["targets"])


@pytest.mark.parametrize("name", sorted(ORIGINAL_LAYOUTS))
def test_seed_dashboards_keep_their_layout(name: str) -> None:
    data = load(COMPOSE / "grafana/dashboards" / name)
    got = [
        (p["title"], p["gridPos"]["x"], p["gridPos"]["y"], p["gridPos"]["w"], p["gridPos"]["h"])
        for p in panels(data)
    ]
    assert got == ORIGINAL_LAYOUTS[name]
    for p in panels(data):  # on our names only: nothing of theirs left to query
        assert not re.search(r"coinbase_trader_|traderagent_|gpt_trader_", json.dumps(p))


def test_names_the_dashboards_need_are_exported() -> None:
    """Each name the dashboards read from the metrics service is one it exports under
    tradewire's names (or a bot's own `metric`, tradewire_custom_<name>)."""
    exposed = Exposition(Aggregator(), resolve_profiles(["tradewire"])).names()
    runtime = Registry("tradewire")
    PipelineMetrics(runtime, ready=lambda: False)  # every service's own, the metrics one too
    catalog = {*exposed, *(runtime.full_name(f) for f in runtime.families.values())}
    for key, m in METRICS.items():
        if m.job != "tradewire-metrics" or not m.name.startswith("tradewire_"):
            continue
        if not m.name.startswith("tradewire_custom_"):
            assert m.name in catalog, f"{key}: {m.name} is not exported by the metrics service"


def test_every_query_name_is_in_the_table() -> None:
    known = {m.name for m in METRICS.values()}
    for path in FILES:
        for p in panels(load(path)):
            for t in p["targets"]:
                names = set(re.findall(r"\b(?:tradewire|node)_\w+", t["expr"]))
                names = {re.sub(r"_bucket$", "", n) for n in names}
                assert names <= known, f"{path.name} {p['title']}: {names - known}"
