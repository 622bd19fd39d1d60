"""The alerts service's own series on ``/metrics``, read from its state when scraped."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from tradewire.consumers.runtime import Computed, Family, Kind, Labels, per_label, scalar

if TYPE_CHECKING:
    from ._service import AlertsService

__all__ = ["add_metrics"]


def add_metrics(svc: AlertsService) -> None:
    n = svc.notifier

    def add(kind: Kind, name: str, labels: Labels, help_: str, computed: Computed) -> None:
        svc.registry.add(Family(name, kind, labels, help_, "alerts", computed=computed))

    def per_receiver(counts: Counter[str]) -> Computed:
        # Every receiver from the start, so rate() and increase() see the first one.
        return lambda now: [((x.name,), float(counts[x.name])) for x in n.receivers]

    def firing_by_severity(now: float) -> list[tuple[Labels, float]]:
        counts = Counter({"warning": 0, "critical": 0})
        counts.update(i.severity for i in svc.engine.instances.values() if i.state == "firing")
        return [((k,), float(v)) for k, v in counts.items()]

    r = ("receiver",)
    add(
        "counter",
        "pipeline_notifications_sent_total",
        r,
        "Notifications delivered",
        per_receiver(n.sent),
    )
    add(
        "counter",
        "pipeline_notifications_failed_total",
        r,
        "Notifications given up on after retries",
        per_receiver(n.failed),
    )
    add(
        "counter",
        "pipeline_notifications_held_total",
        r,
        "Firing changes held back by a silence",
        per_receiver(n.held),
    )
    add(
        "counter",
        "pipeline_state_save_failures_total",
        (),
        "Saving alert state to the KV bucket failed (it is retried at the next change)",
        scalar(lambda: svc.state_save_failures),
    )
    add(
        "counter",
        "pipeline_alert_changes_published_total",
        ("state",),
        "Alert state changes published on the alerts stream",
        per_label(lambda: svc.published),
    )
    add("gauge", "pipeline_alert_rules", (), "Rules loaded", scalar(lambda: len(svc.engine.rules)))
    add("gauge", "pipeline_alerts_firing", ("severity",), "Alerts firing now", firing_by_severity)
