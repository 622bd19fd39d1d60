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
    """Which firing alerts inhibit what: per rule, the fingerprints of the firing
    sources by their ``equal`` values, kept up to date change by change."""

    def __init__(self, rules: list[InhibitRule]) -> None:
        self.rules = rules
        self._sources: list[dict[tuple[str, ...], set[str]]] = [{} for _ in rules]
        self._entries: dict[str, list[tuple[int, tuple[str, ...]]]] = {}  # fp -> its places

    def update(self, change: AlertChange) -> None:
        fp = change.fingerprint
        for i, key in self._entries.pop(fp, ()):
            fps = self._sources[i][key]
            fps.discard(fp)
            if not fps:
                del self._sources[i][key]
        if change.state != "firing":
            return
        labels = alert_labels(change)
        places = []
        for i, rule in enumerate(self.rules):
            if labels_match(labels, rule.source):
                key = tuple(labels.get(k, "") for k in rule.equal)
                self._sources[i].setdefault(key, set()).add(fp)
                places.append((i, key))
        if places:
            self._entries[fp] = places

    def inhibited(self, change: AlertChange) -> bool:
        if not self._entries:
            return False
        labels = alert_labels(change)
        for rule, sources in zip(self.rules, self._sources, strict=True):
            if labels_match(labels, rule.target):
                fps = sources.get(tuple(labels.get(k, "") for k in rule.equal), ())
                if any(fp != change.fingerprint for fp in fps):
                    return True
        return False
