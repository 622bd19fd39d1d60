"""The store's own series on ``/metrics``: write time per batch, and its counts when scraped."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tradewire.consumers.runtime import Family, per_label, scalar

if TYPE_CHECKING:
    from ._service import StoreService

__all__ = ["WRITE_BUCKETS", "add_metrics"]

# Seconds one batch's transaction takes, commit included.
WRITE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def add_metrics(svc: StoreService) -> Family:
    """Add the families; return the write-duration histogram (observed per batch)."""
    r = svc.registry
    write_seconds = r.add(
        Family(
            "pipeline_write_duration_seconds",
            "histogram",
            (),
            "One batch's DuckDB transaction (events and quarantine), commit included",
            "store",
            buckets=WRITE_BUCKETS,
        )
    )

    def counter(name: str, help_: str, read: Callable[[], float]) -> None:
        r.add(Family(name, "counter", (), help_, "store", computed=scalar(read)))

    counter(
        "pipeline_events_stored_total", "Events stored (first copy of an id)", lambda: svc.stored
    )
    counter(
        "pipeline_duplicates_total", "Events whose id was stored already", lambda: svc.duplicates
    )
    counter(
        "pipeline_write_failures_total",
        "Batch transactions that failed",
        lambda: svc.write_failures,
    )
    counter(
        "pipeline_alert_changes_stored_total",
        "Alert state changes stored",
        lambda: svc.alerts_stored,
    )
    r.add(
        Family(
            "pipeline_quarantined_total",
            "counter",
            ("reason",),
            "Messages put in the quarantine table instead of an event table",
            "store",
            computed=per_label(lambda: svc.quarantined),
        )
    )
    return write_seconds
