"""The committed JSON Schema matches the code, and describes what the decoder accepts."""

from __future__ import annotations

import json
from pathlib import Path

from tradewire.schemas import KINDS, json_schema, json_schema_text

COMMITTED = Path(__file__).parents[2] / "schemas" / "tradewire-events.schema.json"


def test_committed_schema_is_current() -> None:
    assert COMMITTED.read_text() == json_schema_text(), (
        "schema drifted: run `uv run tradewire schema export -o "
        "schemas/tradewire-events.schema.json`"
    )


def test_schema_has_every_kind_with_its_tag() -> None:
    schema = json_schema()
    mapping = schema["discriminator"]["mapping"]
    assert set(mapping) == set(KINDS)
    order = schema["$defs"]["Order"]
    assert order["properties"]["side"]["enum"] == ["buy", "sell"]
    assert set(order["required"]) >= {"kind", "symbol", "side", "status", "qty"}
    assert json.loads(json_schema_text()) == schema
