"""Service settings from defaults, a TOML file, env vars and flags, in that order.

Env vars carry the service's name (``TRADEWIRE_STORE_HTTP_PORT``), so services sharing a
host never read each other's settings. Only fleet-wide settings (``SHARED``) may also be
given once for all, as ``TRADEWIRE_NATS_URL`` or ``TRADEWIRE_ROOT``; the service's own
name wins over those.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

__all__ = ["SHARED", "ConfigError", "env_name", "load_config"]

log = logging.getLogger("tradewire.consumers.config")
SHARED = frozenset({"nats_url", "root"})

T = TypeVar("T", bound=msgspec.Struct)


class ConfigError(ValueError):
    """A setting is missing, unknown or out of range; the message names it and its source."""


def env_name(section: str, name: str) -> str:
    """``TRADEWIRE_STORE_HTTP_PORT`` for the store's ``http_port``."""
    return f"TRADEWIRE_{section.upper()}_{name.upper()}"


def load_config(
    cls: type[T],
    section: str,
    path: Path | None,
    flags: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
) -> T:
    """Merge the sources into ``cls``; every error names the setting and where it came from.

    The TOML file may hold the settings at top level or in a ``[section]`` table, so one
    file can configure several services.
    """
    env = os.environ if env is None else env
    fields = set(cls.__struct_fields__)
    merged: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        table = data.get(section, data)
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        unknown = {k for k in table if not isinstance(table[k], dict)} - fields
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
        merged.update({k: v for k, v in table.items() if k in fields})
    for name in sorted(fields):
        value = env.get(env_name(section, name))
        generic = f"TRADEWIRE_{name.upper()}"
        if value is None and name in SHARED:
            value = env.get(generic)
        elif generic in env and name not in SHARED:
            log.warning(
                "%s is not read by the %s service: use %s",
                generic,
                section,
                env_name(section, name),
            )
        if value is not None:
            merged[name] = value
    merged.update({k: v for k, v in flags.items() if v is not None})
    try:
        return msgspec.convert(merged, cls, strict=False)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"{section} config: {exc}") from None
