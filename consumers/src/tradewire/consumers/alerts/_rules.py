"""Alert rules: a typed YAML file, validated with errors that name the file, line and rule.

A rule reads one event kind, keyed by bot (and optionally more fields, ``per``), and
turns it into a number:

- ``threshold``: ``field`` of the latest matching event (``a`` or ``a / b``); without a
  ``field``, 1 when the latest event matches ``where``, else 0;
- ``count``: matching events within ``window``;
- ``ratio``: events matching ``match`` / events matching ``where``, within ``window``;
- ``quantile``: the ``q`` quantile of ``field`` over matching events within ``window``;
- ``absence``: seconds since the last matching event (evaluated on a clock); with
  ``while_bot_active``, counted to the bot's latest event of any kind instead of now, so
  it measures a gap while the bot runs (a bot silent altogether is BotDown's to report).

The number is compared (``op``) with the ``critical``, ``warning`` and ``info``
thresholds, the first that holds giving the severity. ``resolve`` adds hysteresis: a
firing alert stays firing until the value no longer passes ``resolve`` (Prometheus
has no such thing). ``for`` delays firing, ``keep_firing_for`` delays resolving.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from tradewire.schemas import KINDS, RULE_NAME_PATTERN

__all__ = [
    "DEFAULT_RULES",
    "Rule",
    "RuleError",
    "RuleFile",
    "load_rules",
    "parse_duration",
]

DEFAULT_RULES = Path(__file__).with_name("default_rules.yaml")

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
_COMPARE = re.compile(r"^(>=|<=|!=|>|<)\s*(-?\d+(?:\.\d+)?)$")

FilterValue = str | float | bool | list[str]


class RuleError(ValueError):
    """A rules file is wrong; the message is ``file:line: rule NAME: what``."""


def parse_duration(text: str) -> float:
    """``90s``, ``5m``, ``1h30m``, ``0`` -> seconds."""
    text = str(text).strip()
    if text in ("0", ""):
        return 0.0
    m = _DURATION.match(text)
    if not m or not any(m.groups()):
        raise ValueError(f"bad duration {text!r}: use e.g. 30s, 5m, 1h30m")
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s


class Rule(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    kind: Literal["threshold", "count", "ratio", "quantile", "absence"]
    event: str
    field: str = ""
    where: dict[str, FilterValue] = msgspec.field(default_factory=dict)
    match: dict[str, FilterValue] = msgspec.field(default_factory=dict)
    per: list[str] = msgspec.field(default_factory=list)
    window: str = "5m"
    q: float = 0.95
    op: Literal[">", ">=", "<", "<="] = ">"
    info: float | None = None
    warning: float | None = None
    critical: float | None = None
    resolve: float | None = None
    for_: str = msgspec.field(name="for", default="0s")
    keep_firing_for: str = "0s"
    min_events: int = 1
    while_bot_active: bool = False
    summary: str = ""
    runbook: str = ""
    labels: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def window_s(self) -> float:
        return parse_duration(self.window)

    @property
    def for_s(self) -> float:
        return parse_duration(self.for_)

    @property
    def keep_s(self) -> float:
        return parse_duration(self.keep_firing_for)

    def levels(self) -> list[tuple[str, float]]:
        """(severity, threshold), most severe first."""
        return [
            (n, v)
            for n, v in (
                ("critical", self.critical),
                ("warning", self.warning),
                ("info", self.info),
            )
            if v is not None
        ]

    def passes(self, value: float, threshold: float) -> bool:
        op = self.op
        if op == ">":
            return value > threshold
        if op == ">=":
            return value >= threshold
        if op == "<":
            return value < threshold
        return value <= threshold

    def validate(self) -> None:
        """Check what the types alone cannot; raise ValueError naming the setting."""
        if not re.match(RULE_NAME_PATTERN, self.name):
            raise ValueError("name: letters, digits and _, starting with a letter")
        cls = KINDS.get(self.event)
        if cls is None:
            raise ValueError(f"event: unknown kind {self.event!r}; one of {sorted(KINDS)}")
        fields = set(cls.__struct_fields__)
        numeric = {f for f in fields if _is_numeric(cls, f)}
        for part in _field_parts(self.field):
            if part not in numeric:
                raise ValueError(f"field: {part!r} is not a numeric field of {self.event}")
        for name in (*self.where, *self.match, *self.per):
            if name not in fields:
                raise ValueError(f"{name!r} is not a field of {self.event}")
        for flt in (self.where, self.match):
            for key, want in flt.items():
                if isinstance(want, str) and want[:1] in "<>!" and not _COMPARE.match(want):
                    raise ValueError(f"where/match {key}: bad comparison {want!r}")
        if self.kind in ("threshold",) and self.field == "" and not self.where:
            raise ValueError("threshold: give a field, or a where that the latest event meets")
        if self.kind == "quantile" and not self.field:
            raise ValueError("quantile: needs a field")
        if self.kind == "ratio" and not self.match:
            raise ValueError("ratio: needs match (the numerator's filter)")
        if not 0 < self.q < 1:
            raise ValueError("q: between 0 and 1")
        if not self.levels():
            raise ValueError("give at least one of critical, warning, info")
        levels = [v for _, v in self.levels()]
        ascending = self.op in (">", ">=")
        if levels != sorted(levels, reverse=ascending):
            raise ValueError(
                "thresholds out of order: critical must be beyond warning, and warning beyond info"
            )
        for text in (self.window, self.for_, self.keep_firing_for):
            parse_duration(text)
        if self.resolve is not None and self.passes(self.resolve, levels[-1]):
            raise ValueError("resolve must be on the non-firing side of the lowest threshold")
        if self.kind in ("count", "ratio", "quantile") and self.window_s <= 0:
            raise ValueError("window: must be > 0")
        if self.while_bot_active and self.kind != "absence":
            raise ValueError("while_bot_active: only for absence rules")


def _field_parts(expr: str) -> list[str]:
    if not expr:
        return []
    parts = [p.strip() for p in expr.split("/")]
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"field: {expr!r} must be `name` or `name / name`")
    return parts


def _is_numeric(cls: type, name: str) -> bool:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    for f in info.fields:
        if f.name == name:
            t = f.type
            types = t.types if isinstance(t, msgspec.inspect.UnionType) else (t,)
            return any(
                isinstance(
                    getattr(x, "type", x), msgspec.inspect.FloatType | msgspec.inspect.IntType
                )
                for x in types
            )
    return False


class RuleFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    rules: list[Rule] = msgspec.field(default_factory=list)
    receivers: list[dict[str, Any]] = msgspec.field(default_factory=list)
    routes: list[dict[str, Any]] = msgspec.field(default_factory=list)
    inhibit_rules: list[dict[str, Any]] | None = None  # None: the default inhibition


def load_rules(path: Path) -> RuleFile:
    """Parse and validate; every error is ``file:line: rule NAME: what``."""
    try:
        text = path.read_text()
        root = yaml.compose(text)
    except (OSError, yaml.YAMLError) as exc:
        raise RuleError(f"{path}: {exc}") from None
    data = yaml.safe_load(text) if root is not None else {}
    if not isinstance(data, dict):
        raise RuleError(f"{path}:1: the file must be a mapping with a `rules` list")
    unknown = set(data) - {"rules", "receivers", "routes", "inhibit_rules"}
    if unknown:
        raise RuleError(f"{path}:1: unknown top-level key(s) {', '.join(sorted(unknown))}")
    rule_nodes = _rule_nodes(root)
    inhibit = data.get("inhibit_rules")
    if inhibit is not None and not isinstance(inhibit, list):
        raise RuleError(f"{path}:1: inhibit_rules must be a list")
    out = RuleFile(
        receivers=data.get("receivers") or [],
        routes=data.get("routes") or [],
        inhibit_rules=inhibit,
    )
    seen: set[str] = set()
    for i, raw in enumerate(data.get("rules") or []):
        node = rule_nodes[i] if i < len(rule_nodes) else None
        line = node.start_mark.line + 1 if node is not None else 1
        name = raw.get("name", f"#{i + 1}") if isinstance(raw, dict) else f"#{i + 1}"
        where = f"{path}:{line}: rule {name}"
        try:
            rule = msgspec.convert(raw, Rule)
            rule.validate()
        except msgspec.ValidationError as exc:
            key = re.search(r"`\$\.(\w+)", str(exc)) or re.search(r"field `(\w+)`", str(exc))
            if key and node is not None:
                line = _key_line(node, key.group(1)) or line
            raise RuleError(f"{path}:{line}: rule {name}: {exc}") from None
        except ValueError as exc:
            raise RuleError(f"{where}: {exc}") from None
        if rule.name in seen:
            raise RuleError(f"{where}: duplicate rule name")
        seen.add(rule.name)
        out.rules.append(rule)
    return out


def _rule_nodes(root: yaml.Node | None) -> list[yaml.Node]:
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == "rules" and isinstance(value, yaml.SequenceNode):
            return list(value.value)
    return []


def _key_line(node: yaml.Node, key: str) -> int | None:
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if k.value == key:
                return int(k.start_mark.line) + 1
    return None
