"""Alerts: typed rules evaluated on the event stream, notifications, state in NATS KV."""

from ._engine import Engine, Instance
from ._notify import Notifier, Receiver, alertmanager_payload, parse_receivers
from ._rules import DEFAULT_RULES, Rule, RuleError, RuleFile, load_rules, parse_duration
from ._service import AlertsConfig, AlertsService, load_alerts_config

__all__ = [
    "DEFAULT_RULES",
    "AlertsConfig",
    "AlertsService",
    "Engine",
    "Instance",
    "Notifier",
    "Receiver",
    "Rule",
    "RuleError",
    "RuleFile",
    "alertmanager_payload",
    "load_alerts_config",
    "load_rules",
    "parse_duration",
    "parse_receivers",
]
