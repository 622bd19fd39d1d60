"""Schema evolution: old readers tolerate new fields; new readers fill in missing ones."""

from __future__ import annotations

import msgspec

from tradewire.schemas import Order, decode


class OrderV1Plus(msgspec.Struct, tag="order", tag_field="kind", kw_only=True):
    """A later writer's order: same v1 fields plus fields this decoder has never seen."""

    v: int = 1
    id: str
    bot: str
    run: str
    seq: int
    ts: float
    symbol: str
    side: str
    status: str
    qty: float
    venue: str = "coinbase"
    tags: list[str] = msgspec.field(default_factory=lambda: ["a", "b"])
    nested: dict[str, float] = msgspec.field(default_factory=lambda: {"x": 1.0})


def test_old_decoder_reads_newer_event_with_extra_fields() -> None:
    newer = OrderV1Plus(
        id="r-1", bot="b", run="r", seq=1, ts=1.0, symbol="X", side="buy", status="filled", qty=2.0
    )
    ev = decode(msgspec.json.encode(newer))
    assert isinstance(ev, Order)
    assert (ev.symbol, ev.side, ev.status, ev.qty) == ("X", "buy", "filled", 2.0)


def test_new_decoder_reads_older_event_missing_optional_fields() -> None:
    # What a first-generation writer sent: required fields only, no v either.
    older = (
        b'{"kind":"order","id":"r-1","bot":"b","run":"r","seq":1,"ts":1.0,'
        b'"symbol":"X","side":"sell","status":"submitted","qty":1.0}'
    )
    ev = decode(older)
    assert isinstance(ev, Order)
    assert ev.v == 1 and ev.price is None and ev.reason == "none" and ev.retries == 0
    assert ev.filled_qty == 0.0 and ev.reduce_only is False
