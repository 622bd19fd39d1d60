"""Receiver settings from the rules file: one typed struct per service, with routing,
grouping and repeat settings shared by all.

Secrets (webhook URLs holding tokens, bot tokens, routing keys, SMTP passwords) are
given as ``env:NAME`` or ``file:/path`` and read when a notification is sent, so they
never sit in the rules file, and they are never logged: errors name the receiver.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import msgspec

from tradewire.schemas import AlertChange

from ._rules import parse_duration

__all__ = [
    "AlertmanagerReceiver",
    "EmailReceiver",
    "LogReceiver",
    "PagerDutyReceiver",
    "Receiver",
    "SlackReceiver",
    "TelegramReceiver",
    "WebhookReceiver",
    "alert_labels",
    "labels_match",
    "parse_receivers",
    "secret",
]

Severity = Literal["info", "warning", "critical"]


def secret(value: str) -> str:
    """``env:NAME`` -> the variable, ``file:PATH`` -> the file's text, else the value."""
    if value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]
    if value.startswith("file:"):
        try:
            return Path(value[5:]).read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {value[5:]}: {exc.strerror}") from None
    return value


def alert_labels(change: AlertChange) -> dict[str, str]:
    """The labels routing and grouping see (Alertmanager's names)."""
    return {
        "alertname": change.rule,
        "bot": change.bot,
        "severity": change.severity,
        **change.labels,
    }


Matchers = dict[str, str | list[str]]


def labels_match(labels: dict[str, str], matchers: Matchers) -> bool:
    """Every matcher holds: the label equals the value, or is one of a list."""
    for key, want in matchers.items():
        got = labels.get(key)
        if got is None or (got not in want if isinstance(want, list) else got != want):
            return False
    return True


class _Base(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="type"):
    name: str
    # Routing: every list given must contain the alert's value; labels match exactly
    # (a list: any of). A resolve goes to every receiver that was sent the firing.
    severities: list[Severity] = msgspec.field(default_factory=lambda: ["warning", "critical"])
    bots: list[str] = msgspec.field(default_factory=list)
    rules: list[str] = msgspec.field(default_factory=list)
    labels: Matchers = msgspec.field(default_factory=dict)
    send_resolved: bool = True
    # Grouping: changes with equal group_by labels within group_wait go out as one
    # notification; later changes to a group wait until group_interval has passed since
    # it was last notified; a still-firing alert is sent again every repeat_interval.
    group_by: list[str] = msgspec.field(default_factory=lambda: ["alertname", "bot"])
    group_wait: str = "0s"
    group_interval: str = ""  # default: default_group_interval
    default_group_interval: ClassVar[str] = "5m"
    repeat_interval: str = ""  # default: default_repeat
    default_repeat: ClassVar[str] = "4h"
    # At most `budget` notifications per budget_window (0: no limit); past it, groups
    # wait and one summary per window says so.
    budget: int | None = None  # default: default_budget
    budget_window: str = "1h"
    default_budget: ClassVar[int] = 0
    timeout_s: float = 5.0
    max_attempts: int = 5

    def routes(self, change: AlertChange) -> bool:
        if not labels_match(alert_labels(change), self.labels):
            return False
        return (
            change.severity in self.severities
            and (not self.bots or change.bot in self.bots)
            and (not self.rules or change.rule in self.rules)
        )

    @property
    def group_wait_s(self) -> float:
        return parse_duration(self.group_wait)

    @property
    def group_interval_s(self) -> float:
        return parse_duration(self.group_interval or self.default_group_interval)

    @property
    def repeat_s(self) -> float:
        return parse_duration(self.repeat_interval or self.default_repeat)

    @property
    def budget_limit(self) -> int:
        return self.default_budget if self.budget is None else self.budget

    @property
    def budget_window_s(self) -> float:
        return parse_duration(self.budget_window)

    def secrets(self) -> list[str]:
        """The settings that may be ``env:``/``file:`` references (checked at load)."""
        return []

    def validate(self) -> None:
        if not self.name:
            raise ValueError("name: required")
        if self.repeat_s <= 0:
            raise ValueError("repeat_interval: must be > 0")
        self.group_wait_s  # noqa: B018 - parses, raising on a bad duration
        self.group_interval_s  # noqa: B018
        if self.budget_limit < 0 or self.budget_window_s <= 0:
            raise ValueError("budget: >= 0 (0: no limit); budget_window: > 0")
        if not 1 <= self.max_attempts <= 20 or not 0 < self.timeout_s <= 120:
            raise ValueError("max_attempts 1..20 and timeout_s 0..120")
        for value in self.secrets():
            secret(value)


class LogReceiver(_Base, tag="log"):
    pass


class WebhookReceiver(_Base, tag="webhook"):
    url: str
    # tradewire: {"receiver", "status", "group_labels", "alerts": [AlertChange, ...]};
    # alertmanager: Alertmanager's webhook payload, version 4.
    format: Literal["tradewire", "alertmanager"] = "tradewire"

    def secrets(self) -> list[str]:
        return [self.url]


class SlackReceiver(_Base, tag="slack"):
    url: str  # the incoming webhook URL (it is the credential: use env: or file:)

    def secrets(self) -> list[str]:
        return [self.url]


class TelegramReceiver(_Base, tag="telegram"):
    token: str
    chat_id: str
    api_url: str = "https://api.telegram.org"
    # Telegram allows about one message a second per chat; longer bursts get 429.
    min_interval_s: float = 1.0

    def secrets(self) -> list[str]:
        return [self.token]


class PagerDutyReceiver(_Base, tag="pagerduty"):
    routing_key: str
    url: str = "https://events.pagerduty.com/v2/enqueue"
    source: str = "tradewire"

    def secrets(self) -> list[str]:
        return [self.routing_key]


class EmailReceiver(_Base, tag="email"):
    to: list[str]
    smarthost: str  # host:port
    sender: str = msgspec.field(name="from", default="")
    username: str = ""
    password: str = ""
    tls: Literal["starttls", "tls", "none"] = "starttls"

    def secrets(self) -> list[str]:
        return [self.password] if self.password else []

    def validate(self) -> None:
        super().validate()
        host, _, port = self.smarthost.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("smarthost: host:port")
        if not self.to:
            raise ValueError("to: at least one address")
        if "@" not in self.sender:
            raise ValueError("from: the sender's address")


class AlertmanagerReceiver(_Base, tag="alertmanager"):
    url: str  # the Alertmanager's base URL; alerts are POSTed to <url>/api/v2/alerts
    # Alertmanager expects firing alerts to be re-sent before their endsAt (set to
    # three repeat intervals ahead), as Prometheus does every evaluation. It groups,
    # throttles and deduplicates itself: changes go to it at once, and no budget holds
    # those re-sends back.
    default_repeat: ClassVar[str] = "1m"
    default_group_interval: ClassVar[str] = "0s"

    def secrets(self) -> list[str]:
        return [self.url]


Receiver = (
    LogReceiver
    | WebhookReceiver
    | SlackReceiver
    | TelegramReceiver
    | PagerDutyReceiver
    | EmailReceiver
    | AlertmanagerReceiver
)


def parse_receivers(raw: list[dict[str, Any]]) -> list[Receiver]:
    """Receivers from the rules file (a log receiver when none are given)."""
    out: list[Receiver] = []
    names: set[str] = set()
    for i, item in enumerate(raw):
        label = item.get("name", "") if isinstance(item, dict) else ""
        where = f"receivers[{i}]" + (f" {label}" if label else "")
        try:
            r = msgspec.convert(item, Receiver)
            r.validate()
        except (msgspec.ValidationError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
        if r.name in names:
            raise ValueError(f"{where}: duplicate receiver name")
        names.add(r.name)
        out.append(r)
    return out or [LogReceiver(name="log")]
