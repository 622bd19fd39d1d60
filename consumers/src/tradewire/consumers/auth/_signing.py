"""Who sent a request: the caller signs it with the nkey it connects with.

nats-server does not tell a subscriber who published a message (its ``Nats-Request-Info``
header is only added when a request crosses from one account to another through a
service import, and a fleet lives in one account). So an operator's SQL request and
silence carry an ed25519 signature by the caller's nkey over what they ask, with the
time and the name the caller gives; the store and the alerts service check it and
write the verified public key to the audit log. The key is the identity (``tradewire
auth list`` maps keys to names); the name is only what the caller claims, signed.

What this proves: the holder of that key asked exactly this, at about that time. It
does not stop a replay of the same request within ``MAX_SKEW_S`` (a read-only query,
or the same silence written twice, does no harm twice), and it does not authorize:
the server's permissions do that.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import nacl.exceptions
import nacl.signing
import nkeys

from tradewire.publisher import NatsAuth, read_seed

__all__ = [
    "CALLER_HEADER",
    "MAX_SKEW_S",
    "SIGNATURE_HEADER",
    "SIGNED_AT_HEADER",
    "SIGNER_HEADER",
    "Signer",
    "Verdict",
    "signed_request_bytes",
    "verify_request",
    "verify_signature",
]

SIGNER_HEADER = "Tradewire-Signer"
SIGNATURE_HEADER = "Tradewire-Signature"
SIGNED_AT_HEADER = "Tradewire-Signed-At"
CALLER_HEADER = "Tradewire-Caller"
MAX_SKEW_S = 300.0

Status = Literal["verified", "unsigned", "bad signature", "stale"]


def signed_request_bytes(subject: str, at: str, caller: str, body: bytes) -> bytes:
    """What a request's signature covers: where it goes, when, who says they are, what."""
    return b"\n".join(
        [b"tradewire-request-v1", subject.encode(), at.encode(), caller.encode(), body]
    )


def _public_key_bytes(public_key: str) -> bytes:
    """The raw ed25519 key of a user nkey (``U...``); ValueError if it is not one."""
    try:
        raw = base64.b32decode(public_key + "=" * (-len(public_key) % 8))
    except (binascii.Error, ValueError):
        raise ValueError("not a base32 nkey") from None
    if len(raw) != 35 or raw[0] != nkeys.PREFIX_BYTE_USER:
        raise ValueError("not a user nkey")
    if int.from_bytes(raw[-2:], "little") != nkeys.crc16(raw[:-2]):
        raise ValueError("bad nkey checksum")
    return raw[1:-2]


def verify_signature(public_key: str, data: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) is ``public_key``'s over ``data``."""
    try:
        key = nacl.signing.VerifyKey(_public_key_bytes(public_key))
        key.verify(data, base64.b64decode(signature, validate=True))
    except (ValueError, binascii.Error, nacl.exceptions.BadSignatureError):
        return False
    return True


class Signer:
    """Signs with the nkey seed in a file; the seed is read for each signature and wiped."""

    def __init__(self, seed_path: str) -> None:
        self.seed_path = seed_path
        self.public_key = NatsAuth(nkey_seed=seed_path).public_key()

    @classmethod
    def of(cls, auth: NatsAuth) -> Signer | None:
        """The signer of a client that connects with an nkey (seed or creds), else None."""
        path = auth.nkey_seed or auth.creds
        return cls(path) if path else None

    def sign(self, data: bytes) -> str:
        pair = nkeys.from_seed(bytearray(read_seed(self.seed_path)))
        try:
            return base64.b64encode(pair.sign(data)).decode()
        finally:
            pair.wipe()

    def request_headers(self, subject: str, body: bytes, caller: str) -> dict[str, str]:
        at = f"{time.time():.3f}"
        signature = self.sign(signed_request_bytes(subject, at, caller, body))
        return {
            SIGNER_HEADER: self.public_key,
            SIGNATURE_HEADER: signature,
            SIGNED_AT_HEADER: at,
            CALLER_HEADER: caller,
        }


@dataclass(frozen=True)
class Verdict:
    """What a request's signature says: ``signer`` is a public key only when verified."""

    status: Status
    signer: str = ""
    caller: str = ""

    @property
    def verified(self) -> bool:
        return self.status == "verified"


def verify_request(
    subject: str, headers: Mapping[str, str] | None, body: bytes, now: float | None = None
) -> Verdict:
    """Check a request signed by :meth:`Signer.request_headers`."""
    headers = headers or {}
    signer = headers.get(SIGNER_HEADER, "")
    signature = headers.get(SIGNATURE_HEADER, "")
    at = headers.get(SIGNED_AT_HEADER, "")
    caller = headers.get(CALLER_HEADER, "")
    if not (signer and signature and at):
        return Verdict("unsigned", caller=caller)
    data = signed_request_bytes(subject, at, caller, body)
    if not verify_signature(signer, data, signature):
        return Verdict("bad signature", caller=caller)
    try:
        skew = abs((time.time() if now is None else now) - float(at))
    except ValueError:
        return Verdict("bad signature", caller=caller)
    if skew > MAX_SKEW_S:
        return Verdict("stale", signer, caller)
    return Verdict("verified", signer, caller)
