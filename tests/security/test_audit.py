"""Signed requests and silences, and the audit lines made of them and of the server's
JetStream advisories."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import msgspec
import pytest

from tests.security.conftest import Clients, auth_of, store_config
from tradewire.consumers.alerts import Silence
from tradewire.consumers.auth import AuthDir, Signer, advisory_fields, new_seed, verify_request
from tradewire.consumers.cli import main
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.store import StoreService
from tradewire.schemas import Subjects

SQL = b'{"sql": "SELECT 1"}'


@pytest.fixture
def signer(fleet: AuthDir) -> Signer:
    found = Signer.of(auth_of(fleet, "ana"))
    assert found is not None
    return found


def test_a_signed_request_verifies_and_any_change_breaks_it(signer: Signer) -> None:
    headers = signer.request_headers("tradewire.sql", SQL, "ana")
    verdict = verify_request("tradewire.sql", headers, SQL)
    assert (verdict.status, verdict.signer, verdict.caller) == (
        "verified",
        signer.public_key,
        "ana",
    )
    assert (
        verify_request("tradewire.sql", headers, b'{"sql": "SELECT 2"}').status == "bad signature"
    )
    assert verify_request("other.sql", headers, SQL).status == "bad signature"
    claimed = {**headers, "Tradewire-Caller": "bob"}  # the name is signed too
    assert verify_request("tradewire.sql", claimed, SQL).status == "bad signature"
    forged = {**headers, "Tradewire-Signer": new_seed()[1]}  # another key claimed
    assert verify_request("tradewire.sql", forged, SQL).status == "bad signature"
    later = float(headers["Tradewire-Signed-At"]) + 3600
    assert verify_request("tradewire.sql", headers, SQL, now=later).status == "stale"
    assert verify_request("tradewire.sql", None, SQL).status == "unsigned"


def test_a_signed_silence_verifies_until_changed(signer: Signer) -> None:
    silence = Silence(bot="bot-a", starts_at=1.0, ends_at=2.0, comment="deploy (ana)")
    assert silence.signature_status() == "unsigned"
    silence.sign(signer)
    stored = msgspec.json.decode(msgspec.json.encode(silence), type=Silence)
    assert stored.signature_status() == "verified"
    stored.ends_at = 3.0e9  # a longer silence than the operator set
    assert stored.signature_status() == "bad signature"


def test_advisories_become_audit_fields_for_changes_only() -> None:
    def advisory(subject: str, response: str = "{}") -> bytes:
        client = {"user": "UKEY", "name": "tradewire-stream", "host": "10.0.0.7"}
        return json.dumps({"subject": subject, "client": client, "response": response}).encode()

    assert advisory_fields(advisory("$JS.API.STREAM.INFO.TRADEWIRE_EVENTS")) is None
    assert advisory_fields(advisory("$JS.API.CONSUMER.MSG.NEXT.S.d")) is None
    assert advisory_fields(advisory("$JS.API.CONSUMER.CREATE.KV_tradewire_alerts")) is None
    fields = advisory_fields(
        advisory(
            "$JS.API.STREAM.DELETE.TRADEWIRE_EVENTS",
            '{"error": {"code": 403, "description": "not allowed"}}',
        )
    )
    assert fields == {
        "action": "jetstream STREAM.DELETE.TRADEWIRE_EVENTS",
        "caller": "UKEY",
        "name": "tradewire-stream",
        "host": "10.0.0.7",
        "refused": "not allowed",
    }
    assert advisory_fields(b"not json") is None
    # Two fleets on one NATS: a store logs its own fleet's streams and account calls only.
    ours = ("TRADEWIRE_EVENTS", "TRADEWIRE_ALERTS", "KV_tradewire_alerts")
    other = advisory("$JS.API.CONSUMER.DURABLE.CREATE.PROD_FLEET_B_EVENTS.prod_fleet-b-store")
    assert advisory_fields(other, ours) is None
    assert advisory_fields(advisory("$JS.API.STREAM.DELETE.TRADEWIRE_EVENTS"), ours)
    assert advisory_fields(advisory("$JS.API.STREAM.CREATE.KV_tradewire_alerts"), ours)
    assert advisory_fields(advisory("$JS.API.ACCOUNT.PURGE.x"), ours)


@pytest.mark.nats
async def test_a_store_that_requires_signatures_refuses_unsigned_sql(
    *,
    secure_nats: EmbeddedNats,
    fleet: AuthDir,
    clients: Clients,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO, "tradewire.audit")
    store = StoreService(store_config(secure_nats, fleet, tmp_path, sql_require_signed=True))
    task = await store.start(20)
    try:
        ana = await clients.connect("ana")  # ana's key, but a request without a signature
        reply = await ana.request(Subjects().sql, SQL, timeout=10)
        assert "refused: this store answers signed SQL requests only" in reply.data.decode()
        seed = str(fleet.seed_path(fleet.find("ana")))
        argv = ["sql", "SELECT 42", "--format", "csv", "--nats-url", secure_nats.url]
        code = await asyncio.to_thread(main, [*argv, "--nats-nkey-seed", seed])
        assert code == 0  # the CLI signs
        assert capsys.readouterr().out.splitlines()[-1] == "42"
    finally:
        store.stop()
        assert await task == 0
    lines = [r.getMessage() for r in caplog.records if "action=sql" in r.getMessage()]
    assert len(lines) == 2
    assert "signature=unsigned" in lines[0] and "refused=" in lines[0]
    assert f"caller={fleet.find('ana').public_key}" in lines[1]
