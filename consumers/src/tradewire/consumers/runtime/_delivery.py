"""One message delivered by a JetStream pull consumer, with its metadata."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Delivery", "parse_ack_subject"]


@dataclass(slots=True)
class Delivery:
    """What a handler gets: the raw message and where it sits in the stream."""

    subject: str
    data: bytes
    reply: str  # the ack subject
    stream_seq: int
    num_delivered: int
    received_ns: int  # when the server stored it (ns since the epoch)
    pending: int  # messages left for this consumer after this one


def parse_ack_subject(reply: str) -> tuple[int, int, int, int] | None:
    """``(num_delivered, stream_seq, timestamp_ns, pending)`` from a JetStream ack subject.

    Two forms exist: ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``
    and, with a domain and account hash, 12 or more tokens with the same fields shifted
    by two. Anything else is not a JetStream delivery.
    """
    t = reply.split(".")
    if len(t) < 9 or t[0] != "$JS" or t[1] != "ACK":
        return None
    base = 4 if len(t) == 9 else 6
    try:
        return int(t[base]), int(t[base + 1]), int(t[base + 3]), int(t[base + 4])
    except (ValueError, IndexError):
        return None
