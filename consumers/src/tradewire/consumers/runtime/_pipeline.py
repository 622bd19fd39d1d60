"""The pipeline metrics every service exports on its ``/metrics``, read at scrape time.

Counters live where the work happens (:class:`PullConsumer`, :class:`NatsLink`) as plain
attributes; the families here only read them when scraped, so the hot path pays
nothing for being observable. Series are labelled by consumer (its durable name):
the store runs two.
"""

from __future__ import annotations

from collections.abc import Callable

from ._connection import NatsLink
from ._families import Computed, Family, Labels, Registry, scalar
from ._pull import BATCH_BUCKETS, PullConsumer

__all__ = ["PipelineMetrics"]


class PipelineMetrics:
    """Adds the runtime's families to ``registry``; consumers are added as they start."""

    def __init__(self, registry: Registry, *, ready: Callable[[], bool]) -> None:
        self.consumers: list[PullConsumer] = []
        self.link: NatsLink | None = None
        r, c = registry, ("consumer",)
        F = Family

        def per_consumer(read: Callable[[PullConsumer], float]) -> Computed:
            return lambda now: [((x.settings.durable,), float(read(x))) for x in self.consumers]

        self.lag = r.add(
            F(
                "pipeline_consumer_lag",
                "gauge",
                c,
                "Messages in the stream not yet delivered to this consumer (as of the last one)",
                "consumer",
                computed=per_consumer(lambda x: x.pending),
            )
        )
        self.messages = r.add(
            F(
                "pipeline_messages_total",
                "counter",
                (*c, "outcome"),
                "Messages handled: outcome ack (done) or nak (handed back for redelivery)",
                "consumer",
                computed=self._messages,
            )
        )
        r.add(
            F(
                "pipeline_redelivered_total",
                "counter",
                c,
                "Messages that arrived more than once (not acked in time, or nak'd)",
                "consumer",
                computed=per_consumer(lambda x: x.redelivered),
            )
        )
        r.add(
            F(
                "pipeline_batches_total",
                "counter",
                c,
                "Batches handled",
                "consumer",
                computed=per_consumer(lambda x: x.batches),
            )
        )
        self.batch_seconds = r.add(
            F(
                "pipeline_batch_duration_seconds",
                "histogram",
                c,
                "Time to handle one batch (the service's work, acks not included)",
                "consumer",
                buckets=BATCH_BUCKETS,
            )
        )
        r.add(
            F(
                "pipeline_in_progress_acks_total",
                "counter",
                c,
                "In-progress acks (+WPI) sent for messages of a batch still being handled",
                "consumer",
                computed=per_consumer(lambda x: x.in_progress),
            )
        )
        r.add(
            F(
                "pipeline_ack_failures_total",
                "counter",
                c,
                "Acks, naks and +WPI that could not be sent (the messages come back later)",
                "consumer",
                computed=per_consumer(lambda x: x.ack_failures),
            )
        )
        r.add(
            F(
                "pipeline_nats_connected",
                "gauge",
                (),
                "1 while connected to NATS",
                "NATS connection",
                computed=scalar(lambda: bool(self.link and self.link.connected)),
            )
        )
        r.add(
            F(
                "pipeline_nats_reconnects_total",
                "counter",
                (),
                "Reconnects to NATS after a lost connection",
                "NATS connection",
                computed=scalar(lambda: self.link.reconnects if self.link else 0),
            )
        )
        r.add(
            F(
                "pipeline_last_error_timestamp_seconds",
                "gauge",
                (),
                "Unix time of the last NATS or consumer error; 0: none since start",
                "NATS connection, consumer",
                computed=scalar(self.last_error_at),
            )
        )
        r.add(
            F(
                "pipeline_ready",
                "gauge",
                (),
                "1 while /ready answers 200 (consuming, NATS connected)",
                "service",
                computed=scalar(ready),
            )
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
