"""Typed helpers, timers and the recording publisher (no NATS needed)."""

from __future__ import annotations

import inspect
import threading

import msgspec
import pytest

from tradewire.publisher import Emitter, RecordingPublisher
from tradewire.schemas import KINDS, BrokerCall, Cycle, Envelope, EventError, Mark, Order

ENVELOPE = {f.name for f in msgspec.structs.fields(Envelope)}


@pytest.mark.parametrize("kind", sorted(set(KINDS) - {"cycle", "broker_call"}))
def test_typed_method_mirrors_schema_fields(kind: str) -> None:
    method = getattr(Emitter, kind)
    params = set(inspect.signature(method).parameters) - {"self"}
    fields = {f.name for f in msgspec.structs.fields(KINDS[kind])} - ENVELOPE
    assert params == fields


def test_typed_methods_stamp_and_record() -> None:
    tel = RecordingPublisher("bot-7")
    o = tel.order(symbol="BTC-USD", side="buy", status="filled", qty=0.5, price=100.0)
    m = tel.mark(symbol="BTC-USD", price=101.0)
    assert (o.bot, o.seq, m.seq) == ("bot-7", 1, 2)
    assert o.run == m.run == tel.run and o.id == f"{tel.run}-1"
    assert o.ts > 0
    assert tel.of_kind(Order) == [o] and tel.of_kind(Mark) == [m]


def test_caller_timestamp_is_kept() -> None:
    tel = RecordingPublisher()
    assert tel.emit(Mark(symbol="X", price=1.0, ts=1234.5)).ts == 1234.5


def test_recording_publisher_raises_on_invalid() -> None:
    tel = RecordingPublisher()
    with pytest.raises(EventError) as info:
        tel.mark(symbol="X", price=float("nan"))
    assert info.value.field == "$.price"


def test_cycle_timer_ok_and_error() -> None:
    tel = RecordingPublisher()
    with tel.cycle() as c:
        c.orders_submitted = 2
        c.symbols = 3
    with pytest.raises(KeyError), tel.cycle():
        raise KeyError("boom")
    ok, bad = tel.of_kind(Cycle)
    assert ok.ok and ok.orders_submitted == 2 and ok.symbols == 3 and ok.duration_s >= 0
    assert not bad.ok and bad.error_type == "KeyError"


@pytest.mark.parametrize(
    ("exc", "reason"),
    [(TimeoutError(), "timeout"), (ConnectionResetError(), "network"), (ValueError(), "error")],
)
def test_broker_call_timer_classifies_failures(exc: Exception, reason: str) -> None:
    tel = RecordingPublisher()
    with pytest.raises(type(exc)), tel.broker_call("submit"):
        raise exc
    (call,) = tel.of_kind(BrokerCall)
    assert (call.operation, call.outcome, call.reason) == ("submit", "failure", reason)


def test_broker_call_timer_success_and_explicit_reason() -> None:
    tel = RecordingPublisher()
    with tel.broker_call("cancel"):
        pass
    with pytest.raises(RuntimeError), tel.broker_call("submit") as call:
        call.reason = "rate_limit"
        raise RuntimeError("429")
    ok, limited = tel.of_kind(BrokerCall)
    assert ok.outcome == "success" and ok.reason == "none"
    assert limited.reason == "rate_limit"


def test_seq_is_gap_free_across_threads() -> None:
    tel = RecordingPublisher()

    def work() -> None:
        for _ in range(2000):
            tel.mark(symbol="X", price=1.0)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [e.seq for e in tel.events] == list(range(1, 8001))
    assert len({e.id for e in tel.events}) == 8000


@pytest.mark.parametrize("bot", ["", "a.b", "x" * 65, "sp ace", "star*"])
def test_bad_bot_id_is_refused(bot: str) -> None:
    with pytest.raises(ValueError, match="invalid bot id"):
        RecordingPublisher(bot)
