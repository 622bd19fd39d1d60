"""The canonical compose config files, rendered for processes on 127.0.0.1.

The files under ``compose/`` name compose services (``alertmanager:9093``) and container
paths (``/run/alertmanager-secrets/...``). For the process stack every such address
becomes ``127.0.0.1:<port>``, relative rule paths become absolute, and secret files move
into the state directory. Nothing else changes, except timings the caller overrides (a
test wants a 1 s scrape); the files themselves are never edited.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._layout import ADDRESSES

__all__ = [
    "SECRETS_DIR",
    "Overrides",
    "render_alertmanager",
    "render_prometheus",
    "render_rules",
    "secret_files",
]

# Where the compose alertmanager's entrypoint writes credentials (a tmpfs).
SECRETS_DIR = "/run/alertmanager-secrets"
_ADDRESS = re.compile(r"(?<![\w.-])([a-z][a-z-]*):(\d+)\b")


@dataclass(frozen=True, kw_only=True)
class Overrides:
    """Values the process stack sets over the canonical files' (empty: keep theirs)."""

    scrape_interval: str = ""
    evaluation_interval: str = ""
    group_wait: str = ""
    group_interval: str = ""
    am_global: Mapping[str, str] = field(default_factory=dict)


def _addresses(ports: Mapping[str, int]) -> Callable[[str], str]:
    def sub(text: str) -> str:
        def one(m: re.Match[str]) -> str:
            name = ADDRESSES.get(f"{m.group(1)}:{m.group(2)}", "")
            return f"127.0.0.1:{ports[name]}" if name in ports else m.group(0)

        return _ADDRESS.sub(one, text)

    return sub


def _strings(node: Any, fn: Callable[[str], str]) -> Any:
    """``node`` with ``fn`` applied to every string value (never to keys)."""
    if isinstance(node, dict):
        return {k: _strings(v, fn) for k, v in node.items()}
    if isinstance(node, list):
        return [_strings(v, fn) for v in node]
    return fn(node) if isinstance(node, str) else node


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return data


def _dump(data: dict[str, Any], source: Path) -> str:
    head = f"# Rendered by `tradewire stack up` from {source}: edit that file, not this one.\n"
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def render_prometheus(source: Path, ports: Mapping[str, int], over: Overrides) -> str:
    data = _strings(_load(source), _addresses(ports))
    data["rule_files"] = [str((source.parent / r).resolve()) for r in data.get("rule_files", [])]
    glob = data.setdefault("global", {})
    for key in ("scrape_interval", "evaluation_interval"):
        if getattr(over, key):
            glob[key] = getattr(over, key)
    if over.scrape_interval:  # a job's own interval would beat the global one
        for job in data.get("scrape_configs", []):
            job.pop("scrape_interval", None)
            job.pop("scrape_timeout", None)
    return _dump(data, source)


def render_alertmanager(
    source: Path, ports: Mapping[str, int], secrets_dir: Path, over: Overrides
) -> str:
    def move_secret(text: str) -> str:
        if text.startswith(SECRETS_DIR + "/"):
            return str(secrets_dir / text[len(SECRETS_DIR) + 1 :])
        return text

    data = _strings(_load(source), lambda s: move_secret(_addresses(ports)(s)))
    # true/false become booleans (smtp_require_tls); every other value stays a string.
    data.setdefault("global", {}).update(
        {k: {"true": True, "false": False}.get(v, v) for k, v in over.am_global.items()}
    )
    route = data.setdefault("route", {})
    if over.group_wait:
        route["group_wait"] = over.group_wait
    if over.group_interval:
        route["group_interval"] = over.group_interval
    return _dump(data, source)


def render_rules(source: Path, ports: Mapping[str, int]) -> str:
    """The alerts service's rules file (its receivers' URLs name compose services)."""
    return _dump(_strings(_load(source), _addresses(ports)), source)


def secret_files(alertmanager_yml: Path) -> list[str]:
    """Names of the credential files the canonical alertmanager.yml reads, which the
    entrypoint writes from ``TRADEWIRE_AM_SECRET_<NAME>`` variables."""
    found: list[str] = []

    def visit(text: str) -> str:
        if text.startswith(SECRETS_DIR + "/"):
            found.append(text[len(SECRETS_DIR) + 1 :])
        return text

    _strings(_load(alertmanager_yml), visit)
    return sorted(set(found))
