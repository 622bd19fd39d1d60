"""Alerts: typed rules evaluated on the event stream, notifications, state in NATS KV."""

from ._engine import Engine, Instance
from ._notify import DeliveryError, Notifier
from ._payloads import Notification
from ._receivers import Receiver, parse_receivers
from ._rules import DEFAULT_RULES, Rule, RuleError, RuleFile, load_rules, parse_duration
from ._service import FIRING_KEY, RULES_KEY, AlertsConfig, AlertsService, load_alerts_config
from ._silences import Silence, add_silence, list_silences, open_bucket, remove_silence

__all__ = [
    "DEFAULT_RULES",
    "FIRING_KEY",
    "RULES_KEY",
    "AlertsConfig",
    "AlertsService",
    "DeliveryError",
    "Engine",
    "Instance",
    "Notification",
    "Notifier",
    "Receiver",
    "Rule",
    "RuleError",
    "RuleFile",
    "Silence",
    "add_silence",
    "list_silences",
    "load_alerts_config",
    "load_rules",
    "open_bucket",
    "parse_duration",
    "parse_receivers",
    "remove_silence",
]
