"""The seed playbook's health signals, over a sliding window of the whole fleet.

Each signal is ``{name, status OK|WARN|CRIT|UNKNOWN, value, threshold_warn,
threshold_crit, unit, details}``; a value at or above a threshold triggers it.
Unlike GPT-Trader's (which counts since process start and ignores configured
thresholds), these use the configured thresholds and a rolling window.
"""

from __future__ import annotations

from typing import Any

from ._aggregator import Aggregator

__all__ = ["signals", "summarize"]


def _signal(
    name: str, value: float | None, limits: tuple[float, float], unit: str, details: dict[str, Any]
) -> dict[str, Any]:
    warn, crit = limits
    if value is None:
        status = "UNKNOWN"
    elif value >= crit:
        status = "CRIT"
    elif value >= warn:
        status = "WARN"
    else:
        status = "OK"
    return {
        "name": name,
        "status": status,
        "value": value,
        "threshold_warn": warn,
        "threshold_crit": crit,
        "unit": unit,
        "details": details,
    }


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = 0.95 * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def signals(agg: Aggregator, now: float, t: dict[str, tuple[float, float]]) -> list[dict[str, Any]]:
    """Order error rate, order retry rate, broker submit latency p95, guard trips."""
    w = agg.window
    orders = len(w.values(now, "orders"))
    errors = len(w.values(now, "order_errors"))
    retries = len(w.values(now, "order_retries"))
    latencies = w.values(now, "submit_latency")
    trips = len(w.values(now, "guard_trips"))
    window = {"window_seconds": w.seconds}
    p95 = _p95(latencies)
    return [
        _signal(
            "order_error_rate",
            errors / orders if orders else None,
            t["order_error_rate"],
            "ratio",
            {**window, "orders": orders, "errors": errors},
        ),
        _signal(
            "order_retry_rate",
            retries / orders if orders else None,
            t["order_retry_rate"],
            "ratio",
            {**window, "orders": orders, "retried": retries},
        ),
        _signal(
            "broker_latency_p95",
            p95 * 1000 if p95 is not None else None,
            t["broker_latency_p95_ms"],
            "ms",
            {**window, "calls": len(latencies)},
        ),
        _signal("guard_trip_count", float(trips), t["guard_trip_count"], "count", window),
    ]


def summarize(items: list[dict[str, Any]]) -> dict[str, Any]:
    crit = sum(s["status"] == "CRIT" for s in items)
    warn = sum(s["status"] == "WARN" for s in items)
    known = [s for s in items if s["status"] != "UNKNOWN"]
    if not known:
        return {"status": "UNKNOWN", "message": "No health signals available", "signals": items}
    if crit:
        return {
            "status": "CRIT",
            "message": f"{crit} critical signal(s), {warn} warning(s)",
            "signals": items,
        }
    if warn:
        return {"status": "WARN", "message": f"{warn} warning signal(s)", "signals": items}
    return {"status": "OK", "message": "All signals OK", "signals": items}
