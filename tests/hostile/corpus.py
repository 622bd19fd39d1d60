"""Hostile messages, each with what must become of it.

One bot's bad input must never cost another bot anything. Each case is one raw
message (bytes, subject, headers) from a bot of its own, and its fate: stored once,
a duplicate of an event stored once, quarantined once with a reason, or refused by
the stream itself. ``schema`` is what a JSON Schema validator must answer for the
payload alone; None where the fate depends on more than the payload (subject,
headers, size, receive time, what is already stored) or where JSON Schema cannot
say it (``note``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from tradewire.schemas import DEFAULT_MAX_SIZE, KINDS

__all__ = [
    "DUPLICATE",
    "PAYLOAD_REASONS",
    "REJECTED",
    "STORED",
    "WARMUP_ID",
    "Case",
    "build",
    "valid_body",
]

STORED = "stored"
DUPLICATE = "duplicate"  # another copy of an event that is stored once
REJECTED = "rejected"  # JetStream refused it: no consumer ever sees it
WARMUP_ID = "warmup-1"  # a mark stored before the corpus is sent, in a batch of its own
# Reasons that depend on the payload alone: a JSON Schema validator must refuse these.
PAYLOAD_REASONS = frozenset({"malformed", "invalid", "unstamped", "unsupported_version"})
ROOT = "tradewire"
BIG = int("9" * 401)


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    expect: str  # STORED, DUPLICATE, REJECTED or a quarantine reason
    subject: str
    bot: str  # the bot of the subject
    event_id: str = ""  # the id it is (or would be) stored under
    kind: str = ""  # the kind it is stored as
    headers: dict[str, str] = field(default_factory=dict)
    schema: bool | None = None
    note: str = ""


def valid_body(kind: str, now: float) -> dict[str, Any]:
    """The fields of one valid event of ``kind`` (no envelope)."""
    bodies: dict[str, dict[str, Any]] = {
        "heartbeat": {"uptime_s": 5.0, "version": "1.2.3", "profile": "prod"},
        "cycle": {"duration_s": 0.2, "ok": False, "error_type": "KeyError", "symbols": 3},
        "order": {
            "symbol": "BTC-USD",
            "side": "buy",
            "status": "rejected",
            "qty": 0.5,
            "price": None,
            "reason": "insufficient_funds",
            "retries": 2,
            "latency_s": 0.12,
        },
        "fill": {"symbol": "BTC-USD", "side": "sell", "qty": 0.5, "price": 64000.0, "fee": -0.1},
        "broker_call": {"operation": "submit", "latency_s": 0.3, "outcome": "failure"},
        "guard": {"guard": "daily_loss", "action": "tripped", "value": 5.0, "limit": 4.0},
        "risk": {"daily_loss": 3.0, "daily_loss_limit": 10.0, "circuit_breaker": "half_open"},
        "account": {
            "equity": 1000.0,
            "positions": [
                {
                    "symbol": "ETH-USD",
                    "qty": 1.0,
                    "side": "short",
                    "entry_price": 3000.0,
                    "mark_price": 2990.0,
                    "notional": 2990.0,
                    "unrealized_pnl": 10.0,
                }
            ],
        },
        "mark": {"symbol": "BTC-USD", "price": 64000.0, "exchange_ts": now - 0.5},
        "ws": {"state": "reconnecting", "reconnect_count": 3, "gap_count": 1},
        "data_quality": {
            "symbol": "BTC-USD",
            "score": 0.5,
            "interval": "1m",
            "issues": [{"issue_type": "gap", "severity": "high", "count": 2}],
        },
        "error": {"component": "broker", "error_type": "Timeout", "message": "x" * 8192},
        "lifecycle": {"state": "emergency_stop", "reason": "kill switch", "pid": 4242},
        "health": {"status": "critical", "component": "grid", "message": "3 errors in a row"},
        "decision": {"action": "blocked", "symbol": "BTC-USD", "side": "buy", "gate": "slip"},
        "unfilled_order": {"order_id": "o-1", "symbol": "BTC-USD", "age_s": 700.0},
        "stale_mark": {"symbol": "BTC-USD", "age_s": 45.0, "threshold_s": 30.0},
        "guard_check": {"guard": "mark_staleness", "ok": False, "category": "data"},
        "metric": {"name": "grid_levels_active", "value": 8, "labels": {"strategy": "grid"}},
    }
    return bodies[kind]


class _Corpus:
    def __init__(self, now: float) -> None:
        self.now = now
        self.cases: list[Case] = []

    def _bot(self) -> str:
        return f"h{len(self.cases):03d}"

    def add(
        self,
        name: str,
        expect: str,
        data: bytes,
        *,
        subject: str = "{root}.evt.{bot}.mark",
        event_id: str = "",
        kind: str = "mark",
        headers: dict[str, str] | None = None,
        schema: bool | str | None = "derive",
        note: str = "",
        bot: str = "",
    ) -> Case:
        """A raw case; ``subject`` may name ``{root}`` and ``{bot}`` (this case's own)."""
        bot = bot or self._bot()
        if schema == "derive":
            schema = True if expect == STORED else (False if expect in PAYLOAD_REASONS else None)
        assert not isinstance(schema, str)
        case = Case(
            name,
            data,
            expect,
            subject.format(root=ROOT, bot=bot),
            bot,
            event_id,
            kind,
            headers or {},
            schema,
            note,
        )
        self.cases.append(case)
        return case

    def event(
        self,
        name: str,
        expect: str,
        kind: str = "mark",
        *,
        over: dict[str, Any] | None = None,
        subject: str = "",
        **kw: Any,
    ) -> Case:
        """A valid event of ``kind`` from this case's bot, changed by ``over`` (a value
        of ``...`` removes the field), on its own subject unless ``subject`` is given."""
        bot = self._bot()
        body: dict[str, Any] = {
            "kind": kind,
            "v": 1,
            "id": f"hostile-{len(self.cases)}",
            "bot": bot,
            "run": f"run-{len(self.cases)}",
            "seq": 1,
            "ts": self.now,
            **valid_body(kind, self.now),
        }
        for key, value in (over or {}).items():
            if value is ...:
                del body[key]
            else:
                body[key] = value
        event_id = body.get("id") if isinstance(body.get("id"), str) else ""
        return self.add(
            name,
            expect,
            msgspec.json.encode(body),
            subject=subject or f"{{root}}.evt.{{bot}}.{kind}",
            event_id=str(event_id),
            kind=kind,
            bot=bot,
            **kw,
        )

    def sized(self, name: str, size: int, expect: str) -> Case:
        """A valid mark padded, in an unknown field, to exactly ``size`` bytes."""
        case = self.event(name, expect, over={"pad": ""})
        pad = size - len(case.data)
        data = case.data.replace(b'"pad":""', b'"pad":"' + b"p" * pad + b'"')
        assert len(data) == size
        self.cases[-1] = _with(case, data=data)
        return self.cases[-1]


def _with(case: Case, **changes: Any) -> Case:
    return Case(**{**case.__dict__, **changes})


def build(now: float) -> list[Case]:
    """The corpus, in the order it is sent; ``now`` is about when (clock-skew cases)."""
    c = _Corpus(now)

    for kind in KINDS:  # every kind there is: a new one without a body here fails
        c.event(f"valid {kind}", STORED, kind)
    # The custom-metric kind's own rules: names and labels become Prometheus names.
    c.event("metric name not Prometheus-safe", "invalid", "metric", over={"name": "Grid-Levels"})
    c.event("metric label named bot", "invalid", "metric", over={"labels": {"bot": "x"}})
    labels = {f"l{i}": "v" for i in range(9)}
    c.event("metric with 9 labels", "invalid", "metric", over={"labels": labels})
    c.event(
        "negative counter increment", "invalid", "metric", over={"type": "counter", "value": -1}
    )

    # Malformed JSON and UTF-8.
    for name, data in [
        ("not json", b"{nope"),
        ("truncated", b'{"kind":"mark","symbol":"X"'),
        ("empty body", b""),
        ("invalid utf-8 in a string", b'{"kind":"mark","symbol":"\xff"}'),
        ("overlong utf-8", b'{"kind":"mark","symbol":"\xc0\xaf"}'),
        ("lone surrogate escape", b'{"kind":"mark","symbol":"a\\ud800b"}'),
        ("NaN literal", b'{"kind":"mark","price":NaN}'),
        ("Infinity literal", b'{"kind":"mark","price":Infinity}'),
        ("single quotes", b"{'kind':'mark'}"),
        ("a comment", b'{"kind":"mark" /* hi */}'),
    ]:
        c.add(name, "malformed", data)
    valid = c.event("valid mark with more to come", STORED).data
    c.add("byte order mark", "malformed", b"\xef\xbb\xbf" + valid)
    c.add("trailing garbage", "malformed", valid + b" x")
    c.add("two objects", "malformed", valid + valid)
    c.add(
        "nesting past the decoder's depth in an unknown field",
        "malformed",
        valid[:-1] + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}",
        schema=None,
        note="JSON Schema cannot limit depth; msgspec refuses past ~1000 levels",
    )

    # Not an object.
    c.add("null", "invalid", b"null")
    c.add("an array", "invalid", b"[1,2,3]")
    c.add("a string", "invalid", b'"mark"')
    c.add("60,000 open brackets", "invalid", b"[" * 60_000)

    # Numbers.
    c.event(
        "seq 2^63",
        "invalid",
        over={"seq": 2**63},
        schema=None,
        note="a JavaScript double cannot tell 2^63 from 2^63-1",
    )
    c.event("seq 2^63-1", STORED, over={"seq": 2**63 - 1})
    c.event("retries 2^64", "invalid", "order", over={"retries": 2**64})
    c.event("heartbeat seq of 401 digits", "invalid", "heartbeat", over={"seq": BIG})
    c.event("ws gap_count of 401 digits", "invalid", "ws", over={"gap_count": BIG})
    c.event(
        "issue count 2^64",
        "invalid",
        "data_quality",
        over={"issues": [{"issue_type": "gap", "count": 2**64}]},
    )
    c.event("seq -1", "invalid", over={"seq": -1})
    c.event("seq 1.0", STORED, over={"seq": 1.0})
    c.event("seq 1.5", "invalid", over={"seq": 1.5})
    c.event("seq as a string", "invalid", over={"seq": "1"})
    c.event("seq true", "invalid", over={"seq": True})
    for name, literal in [("price 1e309", b"1e309"), ("price of 5000 digits", b"9" * 5000)]:
        case = c.event(name, "invalid", over={"price": 1.5})
        c.cases[-1] = _with(case, data=case.data.replace(b'"price":1.5', b'"price":' + literal))
    c.event("negative price", "invalid", over={"price": -5.0})
    c.event("price -0.0", STORED, over={"price": -0.0})
    c.event("score 1.5", "invalid", "data_quality", over={"score": 1.5})
    c.event("qty true", "invalid", "order", over={"qty": True})

    # Wrong types and values.
    c.event("side hold", "invalid", "order", over={"side": "hold"})
    c.event("status done", "invalid", "order", over={"status": "done"})
    c.event("positions not a list", "invalid", "account", over={"positions": {"a": 1}})
    c.event(
        "a position without symbol",
        "invalid",
        "account",
        over={"positions": [{"qty": 1.0, "side": "long", "entry_price": 1, "mark_price": 1}]},
    )
    c.event("symbol a number", "invalid", over={"symbol": 5})
    c.event("ok a string", "invalid", "cycle", over={"ok": "yes"})
    c.event("negative exchange_ts", "invalid", over={"exchange_ts": -1.0})
    c.event("unknown kind in the payload", "invalid", over={"kind": "teleport"})
    c.event("no kind", "invalid", over={"kind": ...})
    c.event("unknown fields are ignored", STORED, over={"evil": {"$ref": "#", "kind": "x"}})
    dup = c.event("a duplicate key, both values valid", STORED, over={"price": 1.0})
    c.cases[-1] = _with(dup, data=dup.data[:-1] + b',"price":2.0}')
    dup = c.event(
        "a duplicate key hiding an invalid value",
        "invalid",
        over={"price": -1.0},
        schema=None,
        note="RFC 8259 leaves repeated names undefined: JSON.parse keeps the last, "
        "msgspec checks each",
    )
    c.cases[-1] = _with(dup, data=dup.data[:-1] + b',"price":2.0}')
    c.event("message of 8193 chars", "invalid", "error", over={"message": "m" * 8193})
    c.event("symbol of 129 chars", "invalid", over={"symbol": "S" * 129})
    c.event("id of 129 chars", "invalid", over={"id": "i" * 129})
    c.event("empty bot in the payload", "invalid", over={"bot": ""})

    # The envelope.
    c.add("no envelope", "unstamped", b'{"kind":"heartbeat"}', subject="{root}.evt.{bot}.heartbeat")
    c.event("empty id", "unstamped", over={"id": ""})
    c.event("empty run", "unstamped", over={"run": ""})
    c.event("seq 0", "unstamped", over={"seq": 0})
    c.event("ts 0", "unstamped", over={"ts": 0.0})
    c.event("no ts", "unstamped", over={"ts": ...})
    c.event("negative ts", "invalid", over={"ts": -5.0})
    c.event("ts a string", "invalid", over={"ts": "now"})
    c.event("v 2", "unsupported_version", over={"v": 2})
    c.event("v 0", "invalid", over={"v": 0})
    c.event("v a string", "invalid", over={"v": "1"})
    c.event("no v means 1", STORED, over={"v": ...})

    # Sizes: the consumers' limit, and the stream's (twice that).
    c.sized("exactly the size limit", DEFAULT_MAX_SIZE, STORED)
    c.sized("one byte past the limit", DEFAULT_MAX_SIZE + 1, "too_large")
    c.sized("past the stream's max_msg_size", DEFAULT_MAX_SIZE * 2 + 1, REJECTED)

    # Subjects.
    c.event("payload claims another bot", "bot_mismatch", over={"bot": "other"})
    c.event(
        "an order on the mark subject", "kind_mismatch", "order", subject="{root}.evt.{bot}.mark"
    )
    for name, subject in [
        ("unknown kind token", "{root}.evt.{bot}.teleport"),
        ("an extra token", "{root}.evt.{bot}.mark.extra"),
        ("no kind token", "{root}.evt.{bot}"),
        ("upper-case kind token", "{root}.evt.{bot}.MARK"),
        ("bot token with $", "{root}.evt.h$1.mark"),
        ("bot token of 65 chars", "{root}.evt." + "b" * 65 + ".mark"),
        ("non-ASCII bot token", "{root}.evt.bøt.mark"),
    ]:
        c.event(name, "bad_subject", subject=subject)

    # Duplicate ids.
    first = c.event("an id used twice", STORED)
    c.add(
        "the same event again under another Nats-Msg-Id",
        DUPLICATE,
        first.data,
        subject=first.subject,
        event_id=first.event_id,
        headers={"Nats-Msg-Id": "another-msg-id"},
        bot=first.bot,
    )
    c.event("the same id as an order", "duplicate_id", "order", over={"id": first.event_id})
    c.event("the id of an earlier batch's mark, as a heartbeat", "duplicate_id", "heartbeat",
            over={"id": WARMUP_ID})  # fmt: skip
    c.event("a Nats-Msg-Id", STORED, headers={"Nats-Msg-Id": "chosen-by-the-sender"})
    c.event(
        "that Nats-Msg-Id on another event",
        REJECTED,
        headers={"Nats-Msg-Id": "chosen-by-the-sender"},
        note="the stream's duplicate window drops it: the header is the sender's to pick",
    )
    c.event("Nats-Msg-Id unlike the payload's id", STORED, headers={"Nats-Msg-Id": "else"})
    c.event("Nats-Msg-Id of 4 kB", STORED, headers={"Nats-Msg-Id": "n" * 4096})

    # Clock skew: the bot's clock against the time the server received the event.
    c.event("heartbeat in year 3000", "clock_skew", "heartbeat", over={"ts": 32_503_680_000.0})
    c.event("heartbeat ts in milliseconds", "clock_skew", "heartbeat", over={"ts": now * 1000})
    c.event("mark ts 1e300", "clock_skew", over={"ts": 1e300})
    c.event("heartbeat 200 s ahead", STORED, "heartbeat", over={"ts": now + 200})
    c.event("heartbeat from 2001", STORED, "heartbeat", over={"ts": 1e9})

    # Headers.
    for status in ("404", "408", "409", "100"):
        c.add(
            f"empty body with Status {status}",
            "malformed",
            b"",
            headers={"Status": status, "Description": "Consumer Deleted"},
        )
    c.event("a valid event with Status 404", STORED, headers={"Status": "404"})
    for header, value in [
        ("Nats-Expected-Stream", "NOPE"),
        ("Nats-Expected-Last-Sequence", "1"),
        ("Nats-Expected-Last-Subject-Sequence", "999999"),
        ("Nats-Expected-Last-Msg-Id", "nope"),
        ("Nats-Rollup", "all"),
    ]:
        c.event(f"{header}: {value}", REJECTED, headers={header: value})
    return c.cases
