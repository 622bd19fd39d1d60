"""Constrained field types shared by every event kind.

The constraints are enforced by msgspec while decoding, so a consumer that
decoded an event may rely on them without checking again.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

__all__ = [
    "BOT_ID_PATTERN",
    "INT32_MAX",
    "INT64_MAX",
    "LABEL_NAME_PATTERN",
    "METRIC_NAME_PATTERN",
    "BotId",
    "BreakerState",
    "Count",
    "DecisionAction",
    "GuardAction",
    "HealthStatus",
    "Label",
    "LabelName",
    "LifecycleState",
    "Liquidity",
    "MetricLabels",
    "MetricName",
    "MetricType",
    "NonNegative",
    "OrderStatus",
    "Outcome",
    "PositionSide",
    "Score",
    "Seconds",
    "SeqNo",
    "Severity",
    "Side",
    "Text",
    "Timestamp",
    "Version",
    "WsState",
]

BOT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

# A bot id is also a subject token, so it may not contain '.', '*', '>' or spaces.
BotId = Annotated[str, Meta(pattern=BOT_ID_PATTERN, description="1-64 of [A-Za-z0-9_-]")]
# Short identifiers that consumers turn into metric labels (symbol, reason, guard, ...).
Label = Annotated[str, Meta(max_length=128)]
# Free text (error messages); bounded so one event cannot exhaust a consumer.
Text = Annotated[str, Meta(max_length=8192)]
NonNegative = Annotated[float, Meta(ge=0)]
Seconds = Annotated[float, Meta(ge=0, description="a duration in seconds")]
Score = Annotated[float, Meta(ge=0, le=1)]
# Every integer is bounded to what the store's column can hold (BIGINT, or INTEGER for
# ``v``): JSON allows any number of digits, and an integer past the column's range would
# otherwise decode and then fail the whole batch's write. The store derives each
# column's type from these bounds and refuses an unbounded int field.
INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
Count = Annotated[int, Meta(ge=0, le=INT64_MAX)]
SeqNo = Annotated[int, Meta(ge=0, le=INT64_MAX, description="1, 2, 3 ... per run")]
Version = Annotated[int, Meta(ge=1, le=INT32_MAX, description="schema version of the kind")]
Timestamp = Annotated[float, Meta(ge=0, description="seconds since the epoch, UTC")]

# Custom metrics (kind `metric`): names and label names become Prometheus names, so they
# are Prometheus-safe, short, and may not take the names consumers add themselves.
METRIC_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
LABEL_NAME_PATTERN = r"^(?!bot$|le$|quantile$|__)[a-z_][a-z0-9_]{0,31}$"
MetricName = Annotated[str, Meta(pattern=METRIC_NAME_PATTERN)]
LabelName = Annotated[str, Meta(pattern=LABEL_NAME_PATTERN)]
MetricLabels = Annotated[dict[LabelName, Label], Meta(max_length=8)]

Side = Literal["buy", "sell"]
PositionSide = Literal["long", "short"]
OrderStatus = Literal[
    "submitted",
    "accepted",
    "rejected",
    "failed",
    "partially_filled",
    "filled",
    "cancelled",
    "expired",
]
Outcome = Literal["success", "failure"]
GuardAction = Literal["tripped", "cleared", "warn"]
BreakerState = Literal["closed", "half_open", "open"]
WsState = Literal["connected", "disconnected", "reconnecting"]
Severity = Literal["low", "medium", "high", "critical"]
Liquidity = Literal["maker", "taker", "unknown"]
LifecycleState = Literal["started", "stopped", "paused", "resumed", "emergency_stop"]
HealthStatus = Literal["healthy", "degraded", "unhealthy", "critical"]
DecisionAction = Literal["executed", "blocked"]
MetricType = Literal["gauge", "counter", "histogram"]
