"""JSON Schema of the wire format, for bots that are not written in Python."""

from __future__ import annotations

from typing import Any

import msgspec

from ._kinds import Event

__all__ = ["json_schema", "json_schema_text"]


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of one event, a tagged union on ``kind``."""
    schema = msgspec.json.schema(Event)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tradewire event"
    return schema


def json_schema_text() -> str:
    """The schema as stable, indented text, as committed in the repository."""
    return msgspec.json.format(msgspec.json.encode(json_schema()), indent=2).decode() + "\n"
