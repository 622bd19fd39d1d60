"""Property tests: every valid event round-trips exactly; no input crashes the decoder."""

from __future__ import annotations

import contextlib
import re
from typing import Any, cast

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewire.schemas import EVENT_TYPES, KINDS, Envelope, EventError, Metric, decode, encode


def _float(c: msgspec.inspect.FloatType) -> st.SearchStrategy[float]:
    lo = c.ge if c.ge is not None else -1e12
    hi = c.le if c.le is not None else 1e12
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)


def strategy_for(t: msgspec.inspect.Type) -> st.SearchStrategy[Any]:
    """A hypothesis strategy for any type msgspec.inspect reports in our schemas."""
    if isinstance(t, msgspec.inspect.Metadata):
        return strategy_for(t.type)
    if isinstance(t, msgspec.inspect.FloatType):
        return _float(t)
    if isinstance(t, msgspec.inspect.IntType):
        return st.integers(
            min_value=t.ge if t.ge is not None else -(2**53),
            max_value=t.le if t.le is not None else 2**53,
        )
    if isinstance(t, msgspec.inspect.BoolType):
        return st.booleans()
    if isinstance(t, msgspec.inspect.StrType):
        if t.pattern:
            return st.from_regex(re.compile(t.pattern), fullmatch=True)
        return st.text(max_size=min(t.max_length or 64, 64))
    if isinstance(t, msgspec.inspect.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, msgspec.inspect.NoneType):
        return st.none()
    if isinstance(t, msgspec.inspect.UnionType):
        return st.one_of([strategy_for(x) for x in t.types])
    if isinstance(t, msgspec.inspect.ListType):
        return st.lists(strategy_for(t.item_type), max_size=3)
    if isinstance(t, msgspec.inspect.DictType):
        size = min(t.max_length or 3, 3)
        return st.dictionaries(strategy_for(t.key_type), strategy_for(t.value_type), max_size=size)
    if isinstance(t, msgspec.inspect.StructType):
        return struct_strategy(t)
    raise TypeError(f"no strategy for {t}")


def struct_strategy(info: msgspec.inspect.StructType) -> st.SearchStrategy[Any]:
    fields = {f.name: strategy_for(f.type) for f in info.fields}
    if issubclass(info.cls, Envelope):
        fields["seq"] = st.integers(min_value=1, max_value=2**53)
        fields["ts"] = st.floats(min_value=1.0, max_value=4e9)
        fields["id"] = st.text(min_size=1, max_size=40)
        fields["run"] = st.text(min_size=1, max_size=20)
        fields["v"] = st.just(1)
    built = st.builds(info.cls, **fields)
    if info.cls is Metric:  # a counter's value is an increment, never negative
        return built.filter(_not_a_negative_counter)
    return built


def _not_a_negative_counter(m: Any) -> bool:
    return bool(m.type != "counter" or m.value >= 0)


events = st.one_of(
    [
        struct_strategy(cast(msgspec.inspect.StructType, msgspec.inspect.type_info(t)))
        for t in EVENT_TYPES
    ]
)


@settings(max_examples=400, deadline=None)
@given(events)
def test_any_valid_event_round_trips_exactly(event: Envelope) -> None:
    data = encode(event)
    back = decode(data)
    assert back == event
    assert encode(back) == data


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_crash_the_decoder(data: bytes) -> None:
    with contextlib.suppress(EventError):
        decode(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(sorted(KINDS)),
    st.dictionaries(st.text(max_size=12), json_values, max_size=6),
)
def test_random_objects_with_a_real_kind_never_crash(kind: str, obj: dict[str, Any]) -> None:
    with contextlib.suppress(EventError):
        decode(msgspec.json.encode({**obj, "kind": kind}))


@settings(max_examples=1500, deadline=None)
@given(events, st.data())
def test_corrupted_valid_events_never_crash(event: Envelope, data: st.DataObject) -> None:
    """Flip, drop or insert bytes in a real encoding: the near-misses random bytes miss."""
    raw = bytearray(encode(event))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["flip", "drop", "insert"]))
        if op == "flip":
            raw[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "drop":
            del raw[pos]
        else:
            raw.insert(pos, data.draw(st.integers(0, 255)))
    with contextlib.suppress(EventError):
        decode(bytes(raw))
