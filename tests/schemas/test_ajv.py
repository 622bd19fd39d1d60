"""The exported JSON Schema checked by a validator from another ecosystem: ajv (Node).

It must compile under ajv's strict mode, accept every valid event and refuse what
the decoder refuses for the payload alone (the hostile corpus's payload cases).
Setup: ``npm ci --prefix tests/schemas/ajv`` (ajv pinned by its lockfile).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import need_external
from tests.hostile.corpus import PAYLOAD_REASONS, build
from tradewire.schemas import EventError, decode, json_schema

AJV = Path(__file__).parent / "ajv"
NOW = 1_800_000_000.0


def ajv(messages: list[bytes]) -> list[dict[str, Any]]:
    """ajv's verdict on each message, against the schema as exported."""
    node = shutil.which("node")
    if node is None:
        need_external("node", "install Node.js (20+)")
    if not (AJV / "node_modules" / "ajv").is_dir():
        need_external("ajv", f"run `npm ci --prefix {AJV.relative_to(Path.cwd())}`")
    assert node is not None
    request = {
        "schema": json_schema(),
        "messages": [base64.b64encode(m).decode() for m in messages],
    }
    proc = subprocess.run(
        [node, str(AJV / "validate.mjs")],
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    verdicts: list[dict[str, Any]] = json.loads(proc.stdout)
    return verdicts


def accepted(data: bytes) -> bool:
    try:
        decode(data)
    except EventError:
        return False
    return True


def test_ajv_strict_agrees_with_the_decoder_on_every_payload_case() -> None:
    cases = [c for c in build(NOW) if c.schema is not None]
    assert sum(c.schema is True for c in cases) >= 12
    assert sum(c.schema is False for c in cases) >= 40
    wrong = []
    for case, verdict in zip(cases, ajv([c.data for c in cases]), strict=True):
        if verdict["valid"] != case.schema or accepted(case.data) != case.schema:
            wrong.append(
                f"{case.name}: ajv valid={verdict['valid']} ({verdict['error'][:300]}), "
                f"decoder valid={accepted(case.data)}, expected {case.expect}"
            )
    assert not wrong, "\n".join(wrong)


def test_what_json_schema_cannot_say_is_what_the_docs_list() -> None:
    """The payload cases a schema validator accepts and the decoder refuses, each for a
    reason docs/schema-evolution.md gives (a double's precision, depth, repeated names)."""
    noted = [c for c in build(NOW) if c.schema is None and c.expect in PAYLOAD_REASONS]
    verdicts = ajv([c.data for c in noted])
    assert (
        {c.name for c, v in zip(noted, verdicts, strict=True) if v["valid"]}
        == {c.name for c in noted if not accepted(c.data)}
        == {
            "seq 2^63",
            "nesting past the decoder's depth in an unknown field",
            "a duplicate key hiding an invalid value",
        }
    )
