"""Alerts: typed rules evaluated on the event stream, notifications, state in NATS KV."""

from ._engine import Engine, Instance
from ._inhibit import InhibitRule
from ._notify import DeliveryError, Notifier
from ._payloads import Notification
from ._receivers import Receiver, parse_receivers
from ._rules import DEFAULT_RULES, Rule, RuleError, RuleFile, load_rules, parse_duration
from ._service import RULES_KEY, AlertsConfig, AlertsService, load_alerts_config
from ._silences import Silence, add_silence, list_silences, open_bucket, remove_silence
from ._state import ALERT_PREFIX, AlertRecord, read_firing

__all__ = [
    "ALERT_PREFIX",
    "DEFAULT_RULES",
    "RULES_KEY",
    "AlertRecord",
    "AlertsConfig",
    "AlertsService",
    "DeliveryError",
    "Engine",
    "InhibitRule",
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
    "read_firing",
    "remove_silence",
]
