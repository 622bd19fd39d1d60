"""The audit log: one line per SQL query, silence and admin action, naming the caller.

Lines go to the ``tradewire.audit`` logger at INFO, as ``audit action=... caller=...``
followed by ``key=value`` pairs (values with spaces JSON-quoted), so they can be
routed to their own file and grepped. ``caller`` is a verified nkey public key, or
``unknown`` with the reason in ``signature=``.

Admin actions on JetStream (stream limits changed, streams or consumers created or
deleted, buckets created) are reported by nats-server itself: it publishes an audit
advisory for every JetStream API request, with the identity the client authenticated
as (its nkey or user, its connection name and address). :func:`advisory_fields` turns
the ones that change something into audit lines; reads (info, lists, pulls, KV
watches) are left out.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection
from typing import Any

__all__ = ["ADVISORY_SUBJECT", "advisory_fields", "audit"]

audit_log = logging.getLogger("tradewire.audit")
ADVISORY_SUBJECT = "$JS.EVENT.ADVISORY.API"
_PLAIN = re.compile(r"^[A-Za-z0-9_.:/@+-]*$")
# JetStream API calls that change nothing.
_READS = re.compile(
    r"^(INFO|STREAM\.(INFO|NAMES|LIST|MSG\.GET)|CONSUMER\.(INFO|NAMES|LIST|MSG\.NEXT)|DIRECT\.GET)"
)
# Consumers of a KV bucket's stream are how buckets are read and watched.
_KV_READ = re.compile(r"^CONSUMER\.(CREATE|DELETE)\.KV_")


def _value(value: object) -> str:
    text = str(value)
    return text if text and _PLAIN.match(text) else json.dumps(text)


def audit(action: str, caller: str, **fields: object) -> None:
    """Log one audit line (see the module doc); ``None`` values are left out."""
    parts = [f"action={_value(action)}", f"caller={_value(caller or 'unknown')}"]
    parts += [f"{k}={_value(v)}" for k, v in fields.items() if v is not None]
    audit_log.info("audit %s", " ".join(parts))


def advisory_fields(data: bytes, streams: Collection[str] = ()) -> dict[str, Any] | None:
    """The audit fields of a JetStream API advisory that changed something, else None.

    ``streams``: the fleet's own streams (buckets as ``KV_<bucket>``). Advisories are
    account-wide, so with several fleets on one NATS a stream or consumer call naming
    none of them is another fleet's and left out; account-level calls are kept.
    """
    try:
        advisory = json.loads(data)
        api = str(advisory["subject"]).removeprefix("$JS.API.")
    except (ValueError, KeyError, TypeError):
        return None
    if _READS.match(api) or _KV_READ.match(api):
        return None
    on_a_stream = api.startswith(("STREAM.", "CONSUMER."))
    if streams and on_a_stream and not set(api.split(".")) & set(streams):
        return None
    client = advisory.get("client") or {}
    error = None
    try:
        response = json.loads(advisory.get("response") or "{}")
        if isinstance(response, dict) and response.get("error"):
            error = response["error"].get("description", "refused")
    except (ValueError, AttributeError):
        pass
    return {
        "action": f"jetstream {api}",
        "caller": client.get("user") or client.get("nkey") or "",
        "name": client.get("name") or None,
        "host": client.get("host") or None,
        "refused": error,
    }
