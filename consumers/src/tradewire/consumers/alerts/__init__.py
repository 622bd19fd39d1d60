"""Alerts: typed rules evaluated on the event stream (the service is not built yet)."""

from pathlib import Path

from ._engine import Engine, Instance
from ._rules import Rule, RuleError, RuleFile, load_rules, parse_duration

DEFAULT_RULES = Path(__file__).with_name("default_rules.yaml")

__all__ = [
    "DEFAULT_RULES",
    "Engine",
    "Instance",
    "Rule",
    "RuleError",
    "RuleFile",
    "load_rules",
    "parse_duration",
]
