"""Fleet identities on NATS (nkeys, least-privilege permissions), request signing, audit."""

from ._audit import ADVISORY_SUBJECT, advisory_fields, audit
from ._fleet import FLEET_FILE, INCLUDE_FILE, AuthDir, Identity, new_seed, render_include
from ._permissions import ROLES, SERVICES, Permissions, permissions
from ._signing import (
    CALLER_HEADER,
    MAX_SKEW_S,
    SIGNATURE_HEADER,
    SIGNED_AT_HEADER,
    SIGNER_HEADER,
    Signer,
    Verdict,
    signed_request_bytes,
    verify_request,
    verify_signature,
)

__all__ = [
    "ADVISORY_SUBJECT",
    "CALLER_HEADER",
    "FLEET_FILE",
    "INCLUDE_FILE",
    "MAX_SKEW_S",
    "ROLES",
    "SERVICES",
    "SIGNATURE_HEADER",
    "SIGNED_AT_HEADER",
    "SIGNER_HEADER",
    "AuthDir",
    "Identity",
    "Permissions",
    "Signer",
    "Verdict",
    "advisory_fields",
    "audit",
    "new_seed",
    "permissions",
    "render_include",
    "signed_request_bytes",
    "verify_request",
    "verify_signature",
]
