"""`tradewire rules export --prometheus`, checked and unit-tested with the real promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import need_external
from tradewire.consumers.alerts import DEFAULT_RULES, load_rules
from tradewire.consumers.alerts._promql import export_prometheus
from tradewire.consumers.cli import main


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        need_external("promtool", "install Debian's prometheus package")
    assert found
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [promtool(), *args]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60)


def export(tmp_path: Path, prefix: str = "tradewire") -> Path:
    out = tmp_path / "rules.yml"
    args = ["rules", "export", "--prometheus", "--metric-prefix", prefix, "-o", str(out)]
    assert main(args) == 0
    return out


def test_default_rules_export_passes_promtool_check(tmp_path: Path, capsys: Any) -> None:
    for prefix in ("tradewire", "gpt_trader"):
        out = export(tmp_path, prefix)
        result = run("check", "rules", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout
    names = {r["alert"] for r in yaml.safe_load(out.read_text())["groups"][0]["rules"]}
    skipped = {"OrderRetryRate", "NoRecentTrades"}  # no metric carries their numbers
    assert names == {r.name for r in load_rules(DEFAULT_RULES).rules} - skipped
    err = capsys.readouterr().err
    assert "skipped OrderRetryRate" in err and "skipped NoRecentTrades" in err


def notes(rule: str, value: str) -> dict[str, str]:
    r = next(x for x in load_rules(DEFAULT_RULES).rules if x.name == rule)
    return {"summary": r.summary, "runbook_url": r.runbook, "value": value}


def alert(rule: str, t: str, severity: str | None, bot: str, value: str = "") -> dict[str, Any]:
    exp = (
        [
            {
                "exp_labels": {"severity": severity, "bot": bot},
                "exp_annotations": notes(rule, value),
            }
        ]
        if severity
        else []
    )
    return {"eval_time": t, "alertname": rule, "exp_alerts": exp}


def test_exported_rules_fire_and_resolve_under_promtool_test(tmp_path: Path) -> None:
    rules = export(tmp_path)
    stale = 'tradewire_market_data_staleness_seconds{{bot="{bot}",symbol="BTC-USD"}}'
    quality = 'tradewire_data_quality_score{{bot="{bot}",symbol="ETH-USD",interval="1m"}}'
    tests = {
        "rule_files": [rules.name],
        "evaluation_interval": "1m",
        "tests": [
            {  # hysteresis: fires above 10, stays above 8, resolves below
                "interval": "1m",
                "input_series": [
                    {"series": 'tradewire_drawdown_pct{bot="b1"}', "values": "5 12 9 7"}
                ],
                "alert_rule_test": [
                    alert("Drawdown", "0m", None, "b1"),
                    alert("Drawdown", "1m", "warning", "b1", "12"),
                    alert("Drawdown", "2m", "warning", "b1", "9"),
                    alert("Drawdown", "3m", None, "b1"),
                ],
            },
            {  # a ratio of two gauges, with hysteresis at 0.7
                "interval": "1m",
                "input_series": [
                    {"series": 'tradewire_risk_daily_loss{bot="b2"}', "values": "50 85 75 65"},
                    {"series": 'tradewire_risk_daily_loss_limit{bot="b2"}', "values": "100x3"},
                ],
                "alert_rule_test": [
                    alert("DailyLossGuard", "0m", None, "b2"),
                    alert("DailyLossGuard", "1m", "warning", "b2", "0.85"),
                    alert("DailyLossGuard", "2m", "warning", "b2", "0.75"),
                    alert("DailyLossGuard", "3m", None, "b2"),
                ],
            },
            {  # an age gauge
                "interval": "1m",
                "input_series": [
                    {"series": 'tradewire_heartbeat_age_seconds{bot="b3"}', "values": "30 90 150"}
                ],
                "alert_rule_test": [
                    alert("BotDown", "1m", None, "b3"),
                    alert("BotDown", "2m", "critical", "b3", "150"),
                ],
            },
            {  # `for: 1m` on a state gauge (2 = open)
                "interval": "1m",
                "input_series": [
                    {"series": 'tradewire_circuit_breaker_state{bot="b4"}', "values": "0 2 2 2"}
                ],
                "alert_rule_test": [
                    alert("CircuitBreakerOpen", "1m", None, "b4"),
                    alert("CircuitBreakerOpen", "2m", "critical", "b4", "1"),
                ],
            },
            {  # stale marks count while the bot runs: b5 is silent altogether (BotDown's)
                "interval": "1m",
                "input_series": [
                    {"series": stale.format(bot="b5"), "values": "0 60 120"},
                    {"series": 'tradewire_heartbeat_age_seconds{bot="b5"}', "values": "0 60 120"},
                    {"series": stale.format(bot="b6"), "values": "0 60 120"},
                    {"series": 'tradewire_heartbeat_age_seconds{bot="b6"}', "values": "5 5 5"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "2m",
                        "alertname": "MarketDataStale",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": sev, "bot": "b6", "symbol": "BTC-USD"},
                                "exp_annotations": notes("MarketDataStale", "115"),
                            }
                            for sev in ("critical", "warning")
                        ],
                    }
                ],
            },
            {  # the median score over 5m, for 2m: b8's one bad check pages nothing
                "interval": "1m",
                "input_series": [
                    {"series": quality.format(bot="b7"), "values": "1 0.6 0.6 0.6 0.6 0.6"},
                    {"series": quality.format(bot="b8"), "values": "1 0.5 1 1 1 1"},
                ],
                "alert_rule_test": [
                    {"eval_time": "3m", "alertname": "DataQualityLow", "exp_alerts": []},
                    {
                        "eval_time": "4m",
                        "alertname": "DataQualityLow",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "bot": "b7",
                                    "symbol": "ETH-USD",
                                },
                                "exp_annotations": notes("DataQualityLow", "0.6"),
                            }
                        ],
                    },
                ],
            },
        ],
    }
    test_file = tmp_path / "tests.yml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = run("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_without_a_metric_are_skipped_with_a_reason() -> None:
    rule_file = load_rules(DEFAULT_RULES)
    _, skipped = export_prometheus(rule_file.rules)
    assert dict(skipped) == {
        "OrderRetryRate": "only order-status ratios have counters (order_submission_total)",
        "NoRecentTrades": "no age gauge for fill per bot",
    }
