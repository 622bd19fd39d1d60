"""Inhibition, as Alertmanager's ``inhibit_rules``: while an alert matching ``source``
fires, notifications of alerts matching ``target`` with the same values of the ``equal``
labels are held back (like a silence: a target still firing when the inhibition ends is
notified then; resolves always go out). An alert never inhibits itself.

Default: a critical alert inhibits warnings of the same rule and bot.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tradewire.schemas import AlertChange

from ._receivers import Matchers, alert_labels, labels_match

__all__ = ["DEFAULT_INHIBIT_RULES", "InhibitRule", "Inhibitor", "parse_inhibit_rules"]


class InhibitRule(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    source: Matchers
    target: Matchers
    equal: list[str] = msgspec.field(default_factory=list)


DEFAULT_INHIBIT_RULES = [
    InhibitRule(
        source={"severity": "critical"},
        target={"severity": "warning"},
        equal=["alertname", "bot"],
    )
]


def parse_inhibit_rules(raw: list[dict[str, Any]] | None) -> list[InhibitRule]:
    """From the rules file's ``inhibit_rules`` (absent: the default; ``[]``: none)."""
    if raw is None:
        return list(DEFAULT_INHIBIT_RULES)
    out = []
    for i, item in enumerate(raw):
        try:
            rule = msgspec.convert(item, InhibitRule)
        except msgspec.ValidationError as exc:
            raise ValueError(f"inhibit_rules[{i}]: {exc}") from None
        if not rule.source or not rule.target:
            raise ValueError(f"inhibit_rules[{i}]: source and target need a matcher each")
        out.append(rule)
    return out


class Inhibitor:
    """Which firing alerts inhibit what. The firing set is indexed per rule by the
    ``equal`` values of its sources, rebuilt only when the set changed."""

    def __init__(self, rules: list[InhibitRule]) -> None:
        self.rules = rules
        self.firing: dict[str, AlertChange] = {}  # by fingerprint
        self._index: list[dict[tuple[str, ...], set[str]]] | None = None

    def update(self, change: AlertChange) -> None:
        if change.state == "firing":
            self.firing[change.fingerprint] = change
        elif change.state == "resolved":
            self.firing.pop(change.fingerprint, None)
        else:
            return
        self._index = None

    def _build(self) -> list[dict[tuple[str, ...], set[str]]]:
        index: list[dict[tuple[str, ...], set[str]]] = [{} for _ in self.rules]
        for fp, c in self.firing.items():
            labels = alert_labels(c)
            for rule, sources in zip(self.rules, index, strict=True):
                if labels_match(labels, rule.source):
                    key = tuple(labels.get(k, "") for k in rule.equal)
                    sources.setdefault(key, set()).add(fp)
        return index

    def inhibited(self, change: AlertChange) -> bool:
        if not self.rules or not self.firing:
            return False
        if self._index is None:
            self._index = self._build()
        labels = alert_labels(change)
        for rule, sources in zip(self.rules, self._index, strict=True):
            if labels_match(labels, rule.target):
                fps = sources.get(tuple(labels.get(k, "") for k in rule.equal), ())
                if any(fp != change.fingerprint for fp in fps):
                    return True
        return False
