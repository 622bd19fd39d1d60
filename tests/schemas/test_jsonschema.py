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
    refs = [branch["$ref"].rsplit("/", 1)[1] for branch in schema["anyOf"]]
    tags = {schema["$defs"][name]["properties"]["kind"]["enum"][0] for name in refs}
    assert tags == set(KINDS)
    order = schema["$defs"]["Order"]
    assert order["properties"]["side"]["enum"] == ["buy", "sell"]
    assert set(order["required"]) >= {"kind", "symbol", "side", "status", "qty"}
    assert json.loads(json_schema_text()) == schema


def test_envelope_is_required_and_stamped_in_every_kind() -> None:
    """What ``decode`` refuses as ``unstamped`` the schema refuses too, and ``discriminator``
    (OpenAPI, an unknown keyword to a strict JSON Schema validator) is not there."""
    schema = json_schema()
    assert "discriminator" not in schema
    for cls in KINDS.values():
        kind = schema["$defs"][cls.__name__]
        props = kind["properties"]
        assert set(kind["required"]) >= {"kind", "id", "bot", "run", "seq", "ts"}
        assert "v" not in kind["required"]  # absent means 1
        assert props["v"]["enum"] == [1]
        assert props["id"]["minLength"] == 1 and props["run"]["minLength"] == 1
        assert props["seq"]["minimum"] == 1 and props["seq"]["maximum"] == 2**63 - 1
        assert props["ts"]["exclusiveMinimum"] == 0 and "minimum" not in props["ts"]
        for name in ("id", "bot", "run", "seq", "ts"):
            assert "default" not in props[name], name
