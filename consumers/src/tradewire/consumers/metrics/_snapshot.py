"""``/metrics.json``: every value under tradewire's names, and each bot's latest order and
account (GPT-Trader's exporter serves ``latest_order_preview`` and
``latest_account_snapshot`` the same way)."""

from __future__ import annotations

from typing import Any

from ._aggregator import Aggregator
from ._families import Histogram

__all__ = ["snapshot"]


def _hist(labels: dict[str, str], h: Histogram) -> dict[str, Any]:
    return {
        "labels": labels,
        "count": h.count,
        "sum": h.sum,
        "buckets": dict(zip([str(x) for x in (*h.buckets, "+Inf")], h.cumulative(), strict=True)),
    }


def snapshot(agg: Aggregator, now: float, prefix: str = "tradewire") -> dict[str, Any]:
    p = f"{prefix}_" if prefix else ""
    metrics: dict[str, list[dict[str, Any]]] = {}
    for fam in agg.families.values():
        if fam.kind == "histogram":
            metrics[p + fam.name] = [
                _hist(dict(zip(fam.labels, k, strict=True)), h) for k, h in fam.hists.items()
            ]
        else:
            metrics[p + fam.name] = [
                {"labels": dict(zip(fam.labels, k, strict=True)), "value": v}
                for k, v in fam.samples(now)
            ]
    custom: dict[str, list[dict[str, Any]]] = {}
    for cf in agg.custom.families.values():
        rows = custom[cf.name] = []
        for (bot, pairs), v in cf.values.items():
            rows.append({"labels": {"bot": bot, **dict(pairs)}, "value": v})
        for (bot, pairs), h in cf.hists.items():
            rows.append(_hist({"bot": bot, **dict(pairs)}, h))
    bots = {
        bot: {
            "latest_order_preview": agg.latest_order.get(bot, {}),
            "latest_account_snapshot": agg.latest_account.get(bot, {}),
        }
        for bot in sorted(agg.bots)
    }
    return {"timestamp": now, "metrics": metrics, "custom": custom, "bots": bots}
