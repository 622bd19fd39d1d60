"""The console's data and actions against real services on a real nats-server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import Console
from tests.waiting import wait_until
from tradewire.consumers.alerts import list_silences
from tradewire.consumers.console import COLUMNS
from tradewire.consumers.simulate import SimulationConfig, run_simulation
from tradewire.schemas import Heartbeat, Risk, Subjects

pytestmark = pytest.mark.nats

BREAKER = {0.0: "closed", 1.0: "half_open", 2.0: "open"}


def by_bot(data: dict[str, Any], name: str) -> dict[str, float]:
    """One tradewire metric of /metrics.json, per bot."""
    return {r["labels"]["bot"]: r["value"] for r in data["metrics"][f"tradewire_{name}"]}


async def test_fleet_rows_match_metrics_json(console: Console, tmp_path: Path) -> None:
    result = await run_simulation(
        console.url, SimulationConfig(bots=4, rate=200, duration=1.5, seed=5), tmp_path
    )
    await console.folded(result.acked)
    fleet, data = await console.fleet(), await console.metrics_json()
    assert fleet["columns"] == list(COLUMNS)
    rows = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in fleet["rows"]}
    assert sorted(rows) == result.bots
    equity, drawdown = by_bot(data, "equity_dollars"), by_bot(data, "drawdown_pct")
    breaker, orders = by_bot(data, "circuit_breaker_state"), by_bot(data, "open_orders")
    lost, up = by_bot(data, "pipeline_lost_events"), by_bot(data, "bot_up")
    for bot, row in rows.items():
        assert row["equity"] == equity[bot]
        assert row["drawdown_pct"] == drawdown[bot]
        assert row["breaker"] == BREAKER[breaker[bot]]
        assert row["open_orders"] == orders[bot]
        assert row["lost_events"] == lost[bot] == 0
        assert row["status"] == "up" and up[bot] == 1
        # The simulator's bots start at 10,000 each: today's PnL is the change since.
        assert row["day_pnl"] is not None
    firing = {
        (r["labels"]["bot"], r["labels"]["alertname"], r["labels"]["severity"])
        for r in data["metrics"]["tradewire_alert_firing"]
    }
    shown = {(bot, a[0], a[1]) for bot, row in rows.items() for a in row["alerts"]}
    assert shown == firing


async def test_one_bot_has_series_orders_and_errors(console: Console, tmp_path: Path) -> None:
    result = await run_simulation(
        console.url, SimulationConfig(bots=1, rate=400, duration=1.5, seed=2), tmp_path
    )
    await console.folded(result.acked)
    bot = result.bots[0]
    code, view = await console.call("GET", f"/api/bot?bot={bot}")
    assert code == 200, view
    assert view["bot"] == bot and view["row"][0] == bot
    series = view["series"]
    assert series["t"] and len(series["t"]) == len(series["equity"])
    assert any(v is not None for v in series["equity"])
    assert any(v is not None for v in series["cycle_mean_s"])
    assert view["orders"] and {"ts", "symbol", "status"} <= set(view["orders"][0])
    assert view["orders"][0]["ts"] >= view["orders"][-1]["ts"]  # newest first
    assert (await console.call("GET", "/api/bot?bot=nobody"))[0] == 404
    assert (await console.call("GET", "/api/bot?bot=no%20such"))[0] == 400
    assert (await console.call("GET", "/api/bot"))[0] == 400


async def crossing(console: Console, bot: str) -> dict[str, Any]:
    """A drawdown past the default rule's critical level, seen firing in /api/fleet."""
    await console.emit(bot, Heartbeat(), Risk(drawdown_pct=20.0))

    async def firing() -> dict[str, Any] | None:
        alerts = (await console.fleet())["alerts"]["firing"]
        return next((a for a in alerts if a["rule"] == "Drawdown" and a["bot"] == bot), None)

    await wait_until(firing, what="Drawdown firing in /api/fleet")
    alert = await firing()
    assert alert is not None
    return alert


async def test_silence_from_the_console_goes_to_the_alerts_bucket(console: Console) -> None:
    alert = await crossing(console, "dd-bot")
    assert alert["severity"] == "critical" and alert["silenced_by"] is None
    silence = {"rule": "Drawdown", "bot": "dd-bot", "duration": "1h", "comment": "known (ana)"}
    code, made = await console.call(
        "POST", "/api/silences", silence, {"Authorization": "Basic YW5hOnNlY3JldA=="}
    )
    assert code == 200, made
    assert console.metrics.nc is not None
    nc, bucket = console.metrics.nc, Subjects().alerts_bucket
    (stored,) = await list_silences(nc, bucket)
    assert (stored.id, stored.rule, stored.bot) == (made["id"], "Drawdown", "dd-bot")
    assert stored.created_by == "ana (console)" and stored.comment == "known (ana)"
    assert stored.ends_at - stored.starts_at == 3600

    async def silenced() -> bool:
        fleet = await console.fleet()
        (a,) = [a for a in fleet["alerts"]["firing"] if a["bot"] == "dd-bot"]
        row = next(r for r in fleet["rows"] if r[0] == "dd-bot")
        shown = row[-1] == [["Drawdown", "critical", True]]
        return bool(a["silenced_by"] == made["id"] and shown)

    await wait_until(silenced, what="the alert shown as silenced")
    # The alerts service holds the alert's notifications back: it reads the same bucket.
    alerts = console.alerts
    assert alerts is not None
    await wait_until(lambda: made["id"] in alerts.silences.silences)
    code, ended = await console.call("POST", "/api/silences/end", {"id": made["id"]})
    assert code == 200 and ended == {"id": made["id"], "ended": True}
    assert await list_silences(nc, bucket) == []
    assert (await console.call("POST", "/api/silences/end", {"id": made["id"]}))[0] == 404


@pytest.mark.parametrize(
    ("body", "headers", "code", "why"),
    [
        ({"rule": "Drawdown", "duration": "1h", "comment": ""}, {}, 400, "comment"),
        ({"rule": "Drawdown", "duration": "soon", "comment": "x"}, {}, 400, "duration"),
        ({"rule": "Drawdown", "duration": "2200h", "comment": "x"}, {}, 400, "90 days"),
        ({"duration": "1h", "comment": "x"}, {}, 400, "at least one of"),
        ({"rule": "no such!", "duration": "1h", "comment": "x"}, {}, 400, "not a rule"),
        ({"bot": "a b", "duration": "1h", "comment": "x"}, {}, 400, "not a bot id"),
        ({"rule": "Drawdown", "duration": "1h", "comment": "x", "who": "y"}, {}, 400, "who"),
        (
            {"rule": "Drawdown", "duration": "1h", "comment": "x"},
            {"Origin": "http://evil.example"},
            403,
            "evil.example",
        ),
        (
            {"rule": "Drawdown", "duration": "1h", "comment": "x"},
            {"Sec-Fetch-Site": "cross-site"},
            403,
            "another site",
        ),
        (
            {"rule": "Drawdown", "duration": "1h", "comment": "x"},
            {"Content-Type": "text/plain"},
            415,
            "JSON",
        ),
    ],
)
async def test_a_silence_the_console_refuses_is_not_written(
    console: Console, body: dict[str, Any], headers: dict[str, str], code: int, why: str
) -> None:
    await crossing(console, "dd-bot")  # the alerts service and its bucket are there
    got, answer = await console.call("POST", "/api/silences", body, headers)
    assert got == code and why in answer["error"], answer
    assert console.metrics.nc is not None
    nc, bucket = console.metrics.nc, Subjects().alerts_bucket
    assert await list_silences(nc, bucket) == []


async def test_without_the_alerts_service_silencing_says_so_and_creates_nothing(
    console_alone: Console,
) -> None:
    silence = {"rule": "Drawdown", "duration": "1h", "comment": "x"}
    code, answer = await console_alone.call("POST", "/api/silences", silence)
    assert code == 503 and "is the alerts service running" in answer["error"]
    nc = console_alone.metrics.nc
    assert nc is not None
    buckets = [s.config.name async for s in _streams(nc)]
    assert f"KV_{Subjects().alerts_bucket}" not in buckets
    fleet = await console_alone.fleet()
    assert fleet["silences"] == {
        "allowed": True,
        "bucket": Subjects().alerts_bucket,
        "watching": False,
    }


async def _streams(nc: Any) -> Any:
    for info in await nc.jetstream().streams_info():
        yield info


async def test_silencing_can_be_turned_off(nats_server: Any, tmp_path: Path) -> None:
    from tests.console.conftest import _start

    async for c in _start(nats_server, tmp_path, alerts=True, console_silences=False):
        silence = {"rule": "Drawdown", "duration": "1h", "comment": "x"}
        code, answer = await c.call("POST", "/api/silences", silence)
        assert code == 403 and "console_silences" in answer["error"]
        assert (await c.fleet())["silences"]["allowed"] is False


async def test_the_page_and_its_files_are_served_locally(console: Console) -> None:
    from tests.http_raw import get, raw

    code, headers, page = await raw(console.port, get("/"))
    assert code == 200 and headers["content-type"].startswith("text/html")
    assert b'src="/console/console.js"' in page and b'href="/console/console.css"' in page
    assert b"http://" not in page and b"https://" not in page  # nothing from elsewhere
    for name, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
        code, headers, body = await raw(console.port, get(f"/console/{name}"))
        assert code == 200 and headers["content-type"].startswith(kind) and body
        assert b"https://" not in body
    assert (await raw(console.port, get("/console/../_console.py")))[0] == 404
    assert (await raw(console.port, get("/console/index.htm")))[0] == 404
