"""``tradewire rules export --prometheus``: our rules as Prometheus alerting rules over the
metrics service's names, for operators who keep Prometheus + Alertmanager.

A rule is exported when the metrics service has a series that carries its number (the
tables below); one that has none (e.g. order retries, time since the last fill) is
listed as skipped, with the reason, never silently dropped. Each severity becomes one
Prometheus rule with a ``severity`` label. Hysteresis (``resolve``) has no Prometheus
keyword; it is written as ``V > warn or (V > resolve and on(...) ALERTS{...})``, which
keeps a firing alert firing until the value crosses the resolve line.
"""

from __future__ import annotations

from typing import Any

import yaml

from ._rules import Rule, parse_duration

__all__ = ["export_prometheus", "promql_value"]

_Filter = tuple[tuple[str, Any], ...]

# (event, field) -> gauge
_GAUGES = {
    ("risk", "drawdown_pct"): "drawdown_pct",
    ("risk", "daily_loss"): "risk_daily_loss",
    ("risk", "daily_loss_limit"): "risk_daily_loss_limit",
    ("risk", "exposure_usd"): "exposure_usd",
    ("account", "equity"): "equity_dollars",
    ("data_quality", "score"): "data_quality_score",
}
# (event, where as sorted items) -> 0/1 gauge expression
_FLAGS: dict[tuple[str, _Filter], str] = {
    ("risk", (("circuit_breaker", "open"),)): "{p}circuit_breaker_state == bool 2",
}
# absence: event -> (age gauge, the labels it has besides bot)
_AGES = {
    "mark": ("market_data_staleness_seconds", ("symbol",)),
    "account": ("telemetry_account_age_seconds", ()),
    "heartbeat": ("heartbeat_age_seconds", ()),
}
# count: (event, where) -> counter
_COUNTERS: dict[tuple[str, _Filter], str] = {
    ("ws", (("state", "reconnecting"),)): "websocket_reconnects_total",
    ("guard", (("action", "tripped"),)): "guard_trips_total",
    ("cycle", (("ok", False),)): "cycle_errors_total",
}
# quantile of a gauge over time: (event, field) -> (gauge, the labels `per` may use)
_GAUGE_QUANTILES = {("data_quality", "score"): ("data_quality_score", ("symbol",))}
# quantile: (event, field) -> (histogram, where-fields that are its labels)
_HISTOGRAMS = {
    ("broker_call", "latency_s"): ("broker_call_latency_seconds", ("operation",)),
    ("cycle", "duration_s"): ("cycle_duration_seconds", ()),
}


def _key(flt: dict[str, Any]) -> _Filter:
    return tuple(sorted(flt.items()))


def promql_value(rule: Rule, prefix: str) -> tuple[str, tuple[str, ...]] | str:
    """(PromQL for the rule's number, its labels besides bot), or why there is none."""
    p = f"{prefix}_" if prefix else ""
    by = ("bot", *rule.per)
    if rule.kind == "threshold" and rule.field:
        parts = [x.strip() for x in rule.field.split("/")]
        names = [_GAUGES.get((rule.event, x)) for x in parts]
        if None in names or rule.where:
            return f"no gauge carries {rule.event}.{rule.field} (with its filter)"
        if rule.per and not (rule.event == "data_quality" and rule.per == ["symbol"]):
            return f"the {names[0]} gauge has no labels for per {rule.per}"
        if len(names) == 1:
            agg = f"min by ({', '.join(by)}) ({p}{names[0]})" if rule.per else f"{p}{names[0]}"
            return agg, tuple(rule.per)
        return f"({p}{names[0]} / {p}{names[1]})", ()
    if rule.kind == "threshold":
        flag = _FLAGS.get((rule.event, _key(rule.where)))
        if flag is None or rule.per:
            return f"no gauge says whether {rule.event} matches {rule.where}"
        return f"({flag.format(p=p)})", ()
    if rule.kind == "absence":
        age = _AGES.get(rule.event)
        if age is None or rule.where or tuple(rule.per) != age[1]:
            return f"no age gauge for {rule.event} per {rule.per or 'bot'}"
        if rule.while_bot_active and rule.event != "heartbeat":
            # Counted to the bot's latest heartbeat rather than its latest event: as
            # precise as the bot's heartbeat interval.
            hb = f"{p}{_AGES['heartbeat'][0]}"
            join = " on(bot) group_left" if age[1] else ""
            return f"({p}{age[0]} -{join} {hb})", age[1]
        return f"{p}{age[0]}", age[1]
    window = _range(rule.window)
    if rule.kind == "count":
        counter = _COUNTERS.get((rule.event, _key(rule.where)))
        if counter is None or rule.per:
            return f"no counter of {rule.event} where {rule.where}"
        return f"sum by (bot) (increase({p}{counter}[{window}]))", ()
    if rule.kind == "ratio":
        statuses = rule.match.get("status")
        if rule.event != "order" or rule.per or set(rule.match) != {"status"}:
            return "only order-status ratios have counters (order_submission_total)"
        wanted = set(statuses if isinstance(statuses, list) else [str(statuses)])
        if not wanted <= {"rejected", "failed"}:
            return "order_submission_total counts results success, rejected, failed"
        sel = "|".join(sorted(wanted))
        num = f'sum by (bot) (increase({p}order_submission_total{{result=~"{sel}"}}[{window}]))'
        den = f"sum by (bot) (increase({p}order_submission_total[{window}]))"
        return f"({num} / {den})", ()
    gauge = _GAUGE_QUANTILES.get((rule.event, rule.field))
    if gauge is not None and not rule.where and set(rule.per) <= set(gauge[1]):
        # Over the scraped samples of the latest value, not over every event.
        inner = f"quantile_over_time({rule.q:g}, {p}{gauge[0]}[{window}])"
        return f"min by ({', '.join(by)}) ({inner})", tuple(rule.per)
    hist = _HISTOGRAMS.get((rule.event, rule.field))
    if hist is None or rule.per or not set(rule.where) <= set(hist[1]):
        return f"no histogram of {rule.event}.{rule.field} with labels {sorted(rule.where)}"
    matchers = ",".join(f'{k}="{v}"' for k, v in sorted(rule.where.items()))
    series = f"{p}{hist[0]}_bucket{{{matchers}}}" if matchers else f"{p}{hist[0]}_bucket"
    return f"histogram_quantile({rule.q:g}, sum by (bot, le) (rate({series}[{window}])))", ()


def _range(text: str) -> str:
    seconds = int(parse_duration(text))
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def _rules_for(rule: Rule, value: str, labels: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    levels = rule.levels()
    on = ", ".join(("bot", *labels))
    for i, (severity, threshold) in enumerate(levels):
        expr = f"{value} {rule.op} {threshold:g}"
        if rule.resolve is not None and i == len(levels) - 1:
            held = f'ALERTS{{alertname="{rule.name}", alertstate="firing"}}'
            expr = f"({expr}) or ({value} {rule.op} {rule.resolve:g} and on({on}) {held})"
        item: dict[str, Any] = {"alert": rule.name, "expr": expr}
        if rule.for_s > 0:
            item["for"] = _range(rule.for_)
        if rule.keep_s > 0:
            item["keep_firing_for"] = _range(rule.keep_firing_for)
        item["labels"] = {"severity": severity, **rule.labels}
        annotations = {"summary": rule.summary, "runbook_url": rule.runbook}
        annotations["value"] = "{{ $value }}"
        item["annotations"] = {k: v for k, v in annotations.items() if v}
        out.append(item)
    return out


def export_prometheus(
    rules: list[Rule], prefix: str = "tradewire", group: str = "tradewire"
) -> tuple[str, list[tuple[str, str]]]:
    """(Prometheus rules YAML, [(rule, why it was skipped)])."""
    exported: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    for rule in rules:
        got = promql_value(rule, prefix)
        if isinstance(got, str):
            skipped.append((rule.name, got))
            continue
        exported += _rules_for(rule, *got)
    header = "# Generated by `tradewire rules export --prometheus` from tradewire alert rules.\n"
    for name, why in skipped:
        header += f"# skipped {name}: {why}\n"
    body = yaml.safe_dump(
        {"groups": [{"name": group, "rules": exported}]}, sort_keys=False, width=1000
    )
    return header + body, skipped
