"""Alert state changes, published by the alerts service on ``<root>.alert.<bot>.<rule>``."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from ._types import BotId, Label, Text

__all__ = ["RULE_NAME_PATTERN", "AlertChange", "AlertSeverity", "AlertState"]

RULE_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
AlertState = Literal["inactive", "pending", "firing", "resolved"]
AlertSeverity = Literal["info", "warning", "critical"]


class AlertChange(msgspec.Struct, kw_only=True):
    """One transition of one alert instance (a rule, a bot, and the rule's extra labels)."""

    v: int = 1
    id: Label  # fingerprint and transition time: unique per change, the Nats-Msg-Id
    fingerprint: Label  # stable for the alert instance
    rule: Annotated[str, Meta(pattern=RULE_NAME_PATTERN)]
    bot: BotId
    state: AlertState
    severity: AlertSeverity
    ts: float  # when the state changed (service clock)
    active_since: float | None = None  # when the condition started holding
    value: float | None = None
    threshold: float | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    summary: Text = ""
    runbook: Text = ""
