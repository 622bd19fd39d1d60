"""Rule files: the defaults load; mistakes are reported with file, line and rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewire.consumers.alerts import DEFAULT_RULES, RuleError, load_rules, parse_duration


def test_defaults_cover_the_playbooks() -> None:
    names = {r.name for r in load_rules(DEFAULT_RULES).rules}
    assert names == {
        "MarketDataStale",
        "DailyLossGuard",
        "CircuitBreakerOpen",
        "WebSocketReconnectLoop",
        "OrderErrorRate",
        "OrderRetryRate",
        "BrokerLatencyP95",
        "GuardTripSpike",
        "CycleDuration",
        "CycleErrors",
        "AccountSnapshotStale",
        "BotDown",
        "Drawdown",
        "DataQualityLow",
        "NoRecentTrades",
    }


def test_every_default_rule_has_a_runbook_section() -> None:
    runbooks = (Path(__file__).parents[2] / "docs" / "runbooks.md").read_text().lower()
    for rule in load_rules(DEFAULT_RULES).rules:
        anchor = rule.runbook.split("#")[1]
        assert f"##{anchor}" in runbooks.replace(" ", ""), rule.name


@pytest.mark.parametrize(
    ("text", "dur"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("0", 0), ("2.5s", 2.5)]
)
def test_durations(text: str, dur: float) -> None:
    assert parse_duration(text) == dur


BASE = "  - name: R\n    kind: count\n    event: cycle\n    warning: 3\n"


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (BASE + "    windo: 5m\n", 7, "unknown field `windo`"),
        (BASE.replace("cycle", "nope"), 3, "unknown kind 'nope'"),
        (BASE.replace("count", "ratio"), 3, "needs match"),
        (BASE + "    where: {colour: red}\n", 3, "'colour' is not a field of cycle"),
        (BASE + "    window: 5 minutes\n", 3, "bad duration"),
        (BASE + "    critical: 1\n", 3, "out of order"),
        (
            "  - name: Q\n    kind: quantile\n    event: cycle\n    field: ok\n    warning: 1\n",
            3,
            "'ok' is not a numeric field",
        ),
        (BASE + "    resolve: 5\n", 3, "resolve must be on the non-firing side"),
        ("  - name: 9bad\n    kind: count\n    event: cycle\n    warning: 3\n", 3, "name:"),
        (BASE + BASE, 7, "duplicate rule name"),
    ],
)
def test_errors_name_file_line_and_rule(tmp_path: Path, body: str, line: int, message: str) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text("# my rules\nrules:\n" + body)
    with pytest.raises(RuleError) as info:
        load_rules(f)
    text = str(info.value)
    assert text.startswith(f"{f}:{line}: rule "), text
    assert message in text, text


def test_bad_yaml_and_unknown_top_level(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text("rules: [\n")
    with pytest.raises(RuleError, match=r"r\.yaml"):
        load_rules(f)
    f.write_text("rulez: []\n")
    with pytest.raises(RuleError, match="unknown top-level key"):
        load_rules(f)
