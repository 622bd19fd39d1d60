"""What the decoder refuses, and that the error names the reason and the field."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from tradewire.schemas import (
    KINDS,
    Account,
    EventError,
    Mark,
    Order,
    Position,
    decode,
    encode,
    validate,
)

ENV: dict[str, Any] = {"v": 1, "id": "r-1", "bot": "bot-1", "run": "r", "seq": 1, "ts": 1.7e9}


def raw(kind: str, **fields: object) -> bytes:
    return msgspec.json.encode({"kind": kind, **ENV, **fields})


def mark(**fields: object) -> bytes:
    return raw("mark", **{"symbol": "BTC-USD", "price": 1.0, **fields})


def test_valid_event_decodes_to_its_type() -> None:
    ev = decode(mark())
    assert isinstance(ev, Mark) and ev.price == 1.0 and ev.bot == "bot-1"


@pytest.mark.parametrize(
    ("data", "reason", "field"),
    [
        (b'{"kind":"mark",', "malformed", None),
        (b"\xff\xfe", "malformed", None),
        (b'{"kind":"mark","symbol":"\xff"}', "malformed", None),
        (b"[" * 60_000, "invalid", "$"),  # deep nesting: refused at the top, not recursed
        (b"[]", "invalid", "$"),
        (mark().replace(b'"price":1.0', b'"price":NaN'), "malformed", None),
        (mark().replace(b'"price":1.0', b'"price":Infinity'), "malformed", None),
        (mark().replace(b'"price":1.0', b'"price":1e309'), "invalid", "$.price"),
        (mark().replace(b'"price":1.0', b'"price":-1e309'), "invalid", "$.price"),
        (mark(price=None), "invalid", "$.price"),
        (mark(price=-1.0), "invalid", "$.price"),
        (mark(price="1.0"), "invalid", "$.price"),
        (raw("mark", symbol="BTC-USD"), "invalid", "$"),
        (mark(bot="has space"), "invalid", "$.bot"),
        (mark(bot="a.b"), "invalid", "$.bot"),
        (mark(bot="x" * 65), "invalid", "$.bot"),
        (mark(bot=""), "invalid", "$.bot"),
        (mark(symbol="S" * 129), "invalid", "$.symbol"),
        (raw("order", symbol="X", side="hold", status="filled", qty=1.0), "invalid", "$.side"),
        (raw("order", symbol="X", side="buy", status="done", qty=1.0), "invalid", "$.status"),
        (raw("guard", guard="g", action="explode"), "invalid", "$.action"),
        (raw("ws", state="up"), "invalid", "$.state"),
        (raw("risk", circuit_breaker="ajar"), "invalid", "$.circuit_breaker"),
        (raw("data_quality", symbol="X", score=1.5), "invalid", "$.score"),
        (
            raw(
                "data_quality",
                symbol="X",
                score=0.5,
                issues=[{"issue_type": "gap", "severity": "dire"}],
            ),
            "invalid",
            "$.issues[0].severity",
        ),
        (raw("no_such_kind"), "invalid", "$.kind"),
        (b'{"symbol":"X","price":1}', "invalid", "$"),
        (mark(v=2), "unsupported_version", "$.v"),
        (mark(seq=0), "unstamped", None),
        (mark(id=""), "unstamped", None),
        (mark(ts=0.0), "unstamped", None),
        (mark(seq=1.5), "invalid", "$.seq"),
    ],
)
def test_refused_with_reason_and_field(data: bytes, reason: str, field: str | None) -> None:
    with pytest.raises(EventError) as info:
        decode(data)
    assert info.value.reason == reason, info.value
    if field is not None:
        assert info.value.field == field, info.value


def test_size_limit_default_and_configurable() -> None:
    big = mark(symbol="X", extra="y" * 70_000)
    with pytest.raises(EventError) as info:
        decode(big)
    assert info.value.reason == "too_large"
    assert isinstance(decode(big, max_size=100_000), Mark)


def test_subject_mismatch() -> None:
    with pytest.raises(EventError) as info:
        decode(mark(), expect_bot="bot-2")
    assert info.value.reason == "bot_mismatch" and info.value.field == "$.bot"
    with pytest.raises(EventError) as info:
        decode(mark(), expect_kind="order")
    assert info.value.reason == "kind_mismatch"
    assert isinstance(decode(mark(), expect_bot="bot-1", expect_kind="mark"), Mark)


def test_encode_refuses_non_finite_and_names_field() -> None:
    ev = Account(
        equity=1.0,
        positions=[
            Position(symbol="X", qty=1, side="long", entry_price=1.0, mark_price=float("inf"))
        ],
        **ENV,
    )
    with pytest.raises(EventError) as info:
        encode(ev)
    assert info.value.field == "$.positions[0].mark_price"


def test_validate_accepts_a_stamped_event() -> None:
    validate(Order(symbol="X", side="buy", status="filled", qty=1.0, **ENV))


def test_every_kind_is_in_the_union() -> None:
    assert set(KINDS) == {
        "heartbeat",
        "cycle",
        "order",
        "fill",
        "broker_call",
        "guard",
        "risk",
        "account",
        "mark",
        "ws",
        "data_quality",
        "error",
        "lifecycle",
        "health",
        "decision",
        "unfilled_order",
        "stale_mark",
        "guard_check",
        "metric",
    }


BIG = int("9" * 401)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (mark(seq=2**63), "$.seq"),  # one past BIGINT
        (mark(seq=BIG), "$.seq"),
        (mark(seq=-1), "$.seq"),
        (
            raw("order", symbol="X", side="buy", status="filled", qty=1.0, retries=2**64),
            "$.retries",
        ),
        (raw("ws", state="connected", gap_count=BIG), "$.gap_count"),
        (raw("cycle", duration_s=1.0, orders_submitted=-(2**63)), "$.orders_submitted"),
        (
            raw(
                "data_quality", symbol="X", score=1.0, issues=[{"issue_type": "g", "count": 2**63}]
            ),
            "$.issues[0].count",
        ),
        (mark(v=0), "$.v"),
        (mark(v=2**31), "$.v"),  # past the INTEGER column of v
        (mark(seq=float(2**53 + 2)), "$.seq"),  # a double this large may not be the integer sent
        (mark(seq=True), "$.seq"),
    ],
)
def test_integers_are_bounded_to_their_column(data: bytes, field: str) -> None:
    """Every int fits the store's column (BIGINT, INTEGER for v): an integer past it is
    refused here, naming the field, instead of failing the write of its whole batch."""
    with pytest.raises(EventError) as info:
        decode(data)
    assert info.value.reason == "invalid" and info.value.field == field, info.value


@pytest.mark.parametrize(
    ("data", "field", "value"),
    [
        (mark(seq=2**63 - 1), "seq", 2**63 - 1),
        (mark(seq=1.0), "seq", 1),
        (mark(v=1.0), "v", 1),
        (mark().replace(b'"seq":1', b'"seq":1e2'), "seq", 100),
        (raw("order", symbol="X", side="buy", status="filled", qty=1, retries=3.0), "retries", 3),
        (mark(seq=float(2**53)), "seq", 2**53),
    ],
)
def test_integral_numbers_are_integers_as_in_json(data: bytes, field: str, value: int) -> None:
    """JSON has one number type and JSON Schema calls 1.0 an integer: a writer whose
    integers come out as 1.0 (doubles) is accepted, with the int it means."""
    got = getattr(decode(data), field)
    assert got == value and type(got) is int


NOW = 1.8e9


@pytest.mark.parametrize(
    "ts",
    [
        32_503_680_000.0,  # 3000-01-01
        NOW * 1000,  # milliseconds, as JavaScript's Date.now() gives
        NOW + 301,
        1e300,
    ],
)
def test_ts_far_after_the_server_received_it_is_clock_skew(ts: float) -> None:
    with pytest.raises(EventError) as info:
        decode(mark(ts=ts), received_at=NOW)
    assert info.value.reason == "clock_skew" and info.value.field == "$.ts", info.value


@pytest.mark.parametrize("ts", [NOW + 299, NOW, NOW - 86_400 * 365 * 5, 1.0])
def test_ts_near_or_before_receipt_is_accepted(ts: float) -> None:
    """A clock a little ahead passes; the past is not bounded (importers send history)."""
    assert decode(mark(ts=ts), received_at=NOW).ts == ts


def test_clock_skew_bound_is_a_parameter_and_needs_a_receive_time() -> None:
    assert decode(mark(ts=NOW + 3600)).ts == NOW + 3600  # no receive time: not checked
    assert decode(mark(ts=NOW + 3600), received_at=NOW, max_future_s=7200).ts == NOW + 3600
    with pytest.raises(EventError):
        decode(mark(ts=NOW + 61), received_at=NOW, max_future_s=60)
