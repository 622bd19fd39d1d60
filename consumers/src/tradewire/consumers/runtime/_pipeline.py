"""The pipeline metrics every service exports on its ``/metrics``, read at scrape time.

Counters live where the work happens (:class:`PullConsumer`, :class:`NatsLink`) as plain
attributes; the families here only read them when scraped, so the hot path pays
nothing for being observable. Series are labelled by consumer (its durable name):
the store runs two.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from ._connection import NatsLink
from ._families import Family, Kind, Labels, Registry, scalar
from ._pull import BATCH_BUCKETS, PullConsumer

__all__ = ["PipelineMetrics"]


class PipelineMetrics:
    """Adds the runtime's families to ``registry``; consumers are added as they start."""

    def __init__(self, registry: Registry, *, ready: Callable[[], bool]) -> None:
        self.consumers: list[PullConsumer] = []
        self.link: NatsLink | None = None
        c = ("consumer",)

        def add(
            kind: Kind, name: str, help_: str, source: str, labels: Labels = c, **kw: Any
        ) -> Family:
            return registry.add(Family(name, kind, labels, help_, source, **kw))

        def per_consumer(kind: Kind, name: str, help_: str, attr: str) -> None:
            read = attrgetter(attr)
            add(
                kind,
                name,
                help_,
                "consumer",
                computed=lambda now: [
                    ((x.settings.durable,), float(read(x))) for x in self.consumers
                ],
            )

        def service(
            kind: Kind, name: str, help_: str, source: str, read: Callable[[], float]
        ) -> None:
            add(kind, name, help_, source, labels=(), computed=scalar(read))

        per_consumer(
            "gauge",
            "pipeline_consumer_lag",
            "Messages in the stream not yet delivered to this consumer (as of the last one)",
            "pending",
        )
        add(
            "counter",
            "pipeline_messages_total",
            "Messages handled: outcome ack (done) or nak (handed back for redelivery)",
            "consumer",
            labels=(*c, "outcome"),
            computed=self._messages,
        )
        per_consumer(
            "counter",
            "pipeline_redelivered_total",
            "Messages that arrived more than once (not acked in time, or nak'd)",
            "redelivered",
        )
        per_consumer("counter", "pipeline_batches_total", "Batches handled", "batches")
        self.batch_seconds = add(
            "histogram",
            "pipeline_batch_duration_seconds",
            "Time to handle one batch (the service's work, acks not included)",
            "consumer",
            buckets=BATCH_BUCKETS,
        )
        per_consumer(
            "counter",
            "pipeline_in_progress_acks_total",
            "In-progress acks (+WPI) sent for messages of a batch still being handled",
            "in_progress",
        )
        per_consumer(
            "counter",
            "pipeline_ack_failures_total",
            "Acks, naks and +WPI that could not be sent (the messages come back later)",
            "ack_failures",
        )
        service(
            "gauge",
            "pipeline_nats_connected",
            "1 while connected to NATS",
            "NATS connection",
            lambda: bool(self.link and self.link.connected),
        )
        service(
            "counter",
            "pipeline_nats_reconnects_total",
            "Reconnects to NATS after a lost connection",
            "NATS connection",
            lambda: self.link.reconnects if self.link else 0,
        )
        service(
            "gauge",
            "pipeline_last_error_timestamp_seconds",
            "Unix time of the last NATS or consumer error; 0: none since start",
            "NATS connection, consumer",
            self.last_error_at,
        )
        service(
            "gauge",
            "pipeline_ready",
            "1 while /ready answers 200 (consuming, NATS connected)",
            "service",
            ready,
        )

    def add_consumer(self, consumer: PullConsumer) -> None:
        self.consumers.append(consumer)
        self.batch_seconds.hists[(consumer.settings.durable,)] = consumer.batch_seconds

    def last_error_at(self) -> float:
        times = [c.last_error_at for c in self.consumers]
        if self.link is not None:
            times.append(self.link.last_error_at)
        return max(times, default=0.0)

    def _messages(self, now: float) -> list[tuple[Labels, float]]:
        out: list[tuple[Labels, float]] = []
        for x in self.consumers:
            out.append(((x.settings.durable, "ack"), float(x.handled)))
            out.append(((x.settings.durable, "nak"), float(x.naked)))
        return out
