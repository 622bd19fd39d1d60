"""Encoding and validating decoding of events (JSON on the wire)."""

from __future__ import annotations

import re

import msgspec

from ._errors import EventError
from ._kinds import KIND_OF, Envelope, Event, Metric

__all__ = [
    "DEFAULT_MAX_FUTURE_S",
    "DEFAULT_MAX_SIZE",
    "SUPPORTED_VERSIONS",
    "decode",
    "encode",
    "kind_of",
    "validate",
]

DEFAULT_MAX_SIZE = 64 * 1024
# kind -> schema versions this decoder understands; anything else is refused
# rather than guessed at, so a v2 event is quarantined, never misread as v1.
SUPPORTED_VERSIONS: dict[str, frozenset[int]] = {kind: frozenset({1}) for kind in KIND_OF.values()}

# An event stamped further than this after JetStream received it is refused as
# clock_skew: a bot clock far ahead, or a ts in milliseconds (JavaScript's Date.now()),
# would otherwise look alive (or fresh) until the wall clock caught up. Past times are
# accepted: importers republish history legitimately.
DEFAULT_MAX_FUTURE_S = 300.0

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Event] = msgspec.json.Decoder(Event)
# "... - at `$.price`", or for a dict key "... - at `key` in `$.labels`".
_PATH = re.compile(r" - at `(?:key` in `)?(\$[^`]*)`$")
_INT_AS_FLOAT = "Expected `int`, got `float`"
_EXACT = 2**53  # every integer up to here has an exact double


def _integral_floats_as_ints(obj: object) -> object:
    """JSON numbers like ``1.0`` as ints, as JSON (and JSON Schema) sees them."""
    if isinstance(obj, float):
        return int(obj) if obj.is_integer() and abs(obj) <= _EXACT else obj
    if isinstance(obj, list):
        return [_integral_floats_as_ints(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _integral_floats_as_ints(x) for k, x in obj.items()}
    return obj


def _decode_json_numbers(data: bytes | bytearray | memoryview) -> Event:
    """The slow path, taken only after an integer field held ``1.0``: JSON has one
    number type, so a writer whose integers come out as ``1.0`` (a double in Java,
    Jackson, ...) is right by JSON Schema; integral values up to 2^53 are read as ints.
    Anything still wrong raises as the typed decoder would."""
    event: Event = msgspec.convert(_integral_floats_as_ints(msgspec.json.decode(data)), Event)
    return event


def kind_of(event: Envelope) -> str:
    """The kind name of an event (its tag and last subject token)."""
    return KIND_OF[type(event)]


def encode(event: Envelope, *, max_size: int = DEFAULT_MAX_SIZE) -> bytes:
    """Encode to JSON, refusing what a consumer would refuse.

    msgspec writes NaN and infinities as ``null``; decoding the bytes back
    turns that into an error naming the field, so nothing non-finite leaves.
    """
    data = _encoder.encode(event)
    decode(data, max_size=max_size)
    return data


def validate(event: Envelope, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
    """Raise :class:`EventError` if ``event`` would not survive the wire."""
    encode(event, max_size=max_size)


def decode(
    data: bytes | bytearray | memoryview,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    expect_bot: str | None = None,
    expect_kind: str | None = None,
    received_at: float | None = None,
    max_future_s: float = DEFAULT_MAX_FUTURE_S,
) -> Event:
    """Decode and validate one event; raise :class:`EventError` on any fault.

    ``expect_bot`` and ``expect_kind`` come from the subject the message
    arrived on: the subject is what NATS permissions enforce, so a payload
    that claims another bot is refused. ``received_at`` (seconds since the
    epoch) is when the server stored it: a ``ts`` more than ``max_future_s``
    after it is refused as ``clock_skew``.
    """
    if len(data) > max_size:
        raise EventError("too_large", f"{len(data)} bytes exceeds the limit of {max_size}")
    try:
        try:
            event = _decoder.decode(data)
        except msgspec.ValidationError as exc:
            if not str(exc).startswith(_INT_AS_FLOAT):
                raise
            try:
                event = _decode_json_numbers(data)
            except RecursionError:
                raise exc from None
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _PATH.search(text)
        raise EventError("invalid", text, match.group(1) if match else "$") from None
    except msgspec.DecodeError as exc:
        raise EventError("malformed", str(exc)) from None
    except (ValueError, RecursionError) as exc:
        # msgspec raises UnicodeDecodeError (a ValueError) for invalid UTF-8 inside
        # a string; whatever else slips through is still the sender's fault.
        raise EventError("malformed", f"{type(exc).__name__}: {exc}") from None
    kind = KIND_OF[type(event)]
    if event.v not in SUPPORTED_VERSIONS[kind]:
        raise EventError("unsupported_version", f"{kind} v{event.v} is not supported", "$.v")
    if not event.id or not event.bot or not event.run or event.seq < 1 or event.ts <= 0:
        raise EventError("unstamped", "envelope needs id, bot, run, seq >= 1 and ts > 0")
    if isinstance(event, Metric) and event.type == "counter" and event.value < 0:
        raise EventError("invalid", "a counter's value is an increment: >= 0", "$.value")
    if expect_bot is not None and event.bot != expect_bot:
        raise EventError(
            "bot_mismatch", f"payload bot {event.bot!r} != subject bot {expect_bot!r}", "$.bot"
        )
    if expect_kind is not None and kind != expect_kind:
        raise EventError(
            "kind_mismatch", f"payload kind {kind!r} != subject kind {expect_kind!r}", "$.kind"
        )
    if received_at is not None and event.ts > received_at + max_future_s:
        raise EventError(
            "clock_skew",
            f"ts {event.ts:.3f} is {event.ts - received_at:.0f} s after the server received it"
            f" (limit {max_future_s:g} s; is the bot clock wrong, or ts in milliseconds?)",
            "$.ts",
        )
    return event
