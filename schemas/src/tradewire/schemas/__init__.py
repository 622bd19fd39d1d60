"""Typed, versioned telemetry events of tradewire (JSON on the wire).

>>> from tradewire.schemas import Order, decode, encode
>>> ev = Order(symbol="BTC-USD", side="buy", status="filled", qty=0.1,
...            id="r1-1", bot="bot-1", run="r1", seq=1, ts=1.7e9)
>>> decode(encode(ev)) == ev
True
"""

from ._alerts import RULE_NAME_PATTERN, AlertChange, AlertSeverity, AlertState
from ._codec import (
    DEFAULT_MAX_FUTURE_S,
    DEFAULT_MAX_SIZE,
    SUPPORTED_VERSIONS,
    decode,
    encode,
    kind_of,
    validate,
)
from ._errors import EventError, Reason
from ._jsonschema import json_schema, json_schema_text
from ._kinds import (
    EVENT_TYPES,
    KIND_OF,
    KINDS,
    Account,
    BrokerCall,
    Cycle,
    DataQuality,
    DataQualityIssue,
    Decision,
    Envelope,
    Error,
    Event,
    Fill,
    Guard,
    GuardCheck,
    Health,
    Heartbeat,
    Lifecycle,
    Mark,
    Metric,
    Order,
    Position,
    Risk,
    StaleMark,
    UnfilledOrder,
    Ws,
)
from ._subjects import (
    DEFAULT_DUPLICATE_WINDOW_S,
    DEFAULT_MAX_AGE_S,
    DEFAULT_ROOT,
    Subjects,
)
from ._types import BOT_ID_PATTERN

__all__ = [
    "BOT_ID_PATTERN",
    "DEFAULT_DUPLICATE_WINDOW_S",
    "DEFAULT_MAX_AGE_S",
    "DEFAULT_MAX_FUTURE_S",
    "DEFAULT_MAX_SIZE",
    "DEFAULT_ROOT",
    "EVENT_TYPES",
    "KINDS",
    "KIND_OF",
    "RULE_NAME_PATTERN",
    "SUPPORTED_VERSIONS",
    "Account",
    "AlertChange",
    "AlertSeverity",
    "AlertState",
    "BrokerCall",
    "Cycle",
    "DataQuality",
    "DataQualityIssue",
    "Decision",
    "Envelope",
    "Error",
    "Event",
    "EventError",
    "Fill",
    "Guard",
    "GuardCheck",
    "Health",
    "Heartbeat",
    "Lifecycle",
    "Mark",
    "Metric",
    "Order",
    "Position",
    "Reason",
    "Risk",
    "StaleMark",
    "Subjects",
    "UnfilledOrder",
    "Ws",
    "decode",
    "encode",
    "json_schema",
    "json_schema_text",
    "kind_of",
    "validate",
]
