"""JSON Schema of the wire format, for bots that are not written in Python.

msgspec derives the schema from the Structs; what it cannot see is added here, so
the schema refuses what the decoder refuses: the envelope is required on the wire
(the Structs default it so that a bot can build an event before ``emit`` stamps
it), ``v`` is a supported version, ``seq >= 1``, ``ts > 0``, ``id`` and ``run``
non-empty (``decode``'s ``unstamped`` check), and a ``metric`` counter's value is
>= 0. msgspec's ``discriminator`` is OpenAPI, not JSON Schema, and strict
validators refuse unknown keywords, so it is left out. Two rules stay outside any
JSON Schema: the size limit, and ``ts`` against the time the server received the
event (``clock_skew``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._codec import DEFAULT_MAX_FUTURE_S, DEFAULT_MAX_SIZE, SUPPORTED_VERSIONS
from ._kinds import KINDS, Event, Metric

__all__ = ["json_schema", "json_schema_text"]

# What the decoder's envelope checks add to the Structs' own constraints.
_STAMPED: dict[str, dict[str, Any]] = {
    "id": {"minLength": 1},
    "bot": {},  # its pattern already needs 1-64 characters
    "run": {"minLength": 1},
    "seq": {"minimum": 1},
    "ts": {
        "exclusiveMinimum": 0,
        "description": "event time, seconds since the epoch (UTC, bot clock); refused when "
        f"more than {DEFAULT_MAX_FUTURE_S:g} s (by default) after the server received it",
    },
}


def _envelope(kind: str, schema: dict[str, Any]) -> None:
    props = schema["properties"]
    for name, rules in _STAMPED.items():
        prop = props[name]
        prop.pop("default", None)
        if "exclusiveMinimum" in rules:
            prop.pop("minimum", None)
        prop.update(rules)
    props["v"]["enum"] = sorted(SUPPORTED_VERSIONS[kind])
    schema["required"] = ["kind", *_STAMPED, *(r for r in schema["required"] if r != "kind")]


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of one event, a tagged union on ``kind``."""
    schema = msgspec.json.schema(Event)
    schema.pop("discriminator", None)
    for kind, cls in KINDS.items():
        _envelope(kind, schema["$defs"][cls.__name__])
    # decode's one per-kind rule: a counter's value is an increment, never negative.
    schema["$defs"][Metric.__name__]["if"] = {
        "properties": {"type": {"const": "counter"}},
        "required": ["type"],
    }
    schema["$defs"][Metric.__name__]["then"] = {
        "properties": {"value": {"type": "number", "minimum": 0}}
    }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tradewire event"
    schema["description"] = (
        "One event as JSON (UTF-8, at most "
        f"{DEFAULT_MAX_SIZE} bytes by default), on the subject <root>.evt.<bot>.<kind>."
    )
    return schema


def json_schema_text() -> str:
    """The schema as stable, indented text, as committed in the repository."""
    return msgspec.json.format(msgspec.json.encode(json_schema()), indent=2).decode() + "\n"
