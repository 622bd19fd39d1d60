"""Service settings from defaults, a TOML file, env vars and flags, in that order.

Env vars carry the service's name (``TRADEWIRE_STORE_HTTP_PORT``), so services sharing a
host never read each other's settings. Only fleet-wide settings (``SHARED``) may also be
given once for all, as ``TRADEWIRE_NATS_URL`` or ``TRADEWIRE_ROOT``; the service's own
name wins over those. Credentials are never shared: each service has its own
(``TRADEWIRE_STORE_NATS_NKEY_SEED``), so a generic ``TRADEWIRE_NATS_NKEY_SEED`` meant for
the CLI is not picked up by a service (a warning says so). The CA that signed the NATS
server's certificate and the HTTP endpoints' ``web_config`` are the fleet's, so shared.

``nats_url`` names a cluster's nodes as one comma-separated string (env vars, flags) or,
in TOML, as a list too; either way the service gets the comma-separated string.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from tradewire.publisher import NatsAuth

__all__ = ["SHARED", "ConfigError", "SecuritySettings", "env_name", "load_config"]

log = logging.getLogger("tradewire.consumers.config")
SHARED = frozenset({"nats_url", "root", "nats_tls_ca", "web_config"})

T = TypeVar("T", bound=msgspec.Struct)


class ConfigError(ValueError):
    """A setting is missing, unknown or out of range; the message names it and its source."""


class SecuritySettings(msgspec.Struct, kw_only=True):
    """Every service's credential for NATS, TLS towards NATS, and its HTTP ``web_config``.

    The ``nats_*`` names are :class:`NatsAuth`'s fields, as the CLI's ``--nats-*`` flags.
    """

    nats_creds: str = ""
    nats_nkey_seed: str = ""
    nats_user: str = ""
    nats_password: str = ""  # better: TRADEWIRE_<SERVICE>_NATS_PASSWORD or a password file
    nats_password_file: str = ""
    nats_tls_ca: str = ""
    nats_tls_cert: str = ""
    nats_tls_key: str = ""
    nats_inbox_prefix: str = ""
    # An exporter-toolkit web.yml: TLS and basic auth for /metrics, /health, ...
    web_config: str = ""

    def nats_auth(self) -> NatsAuth:
        return NatsAuth(
            creds=self.nats_creds,
            nkey_seed=self.nats_nkey_seed,
            user=self.nats_user,
            password=self.nats_password,
            password_file=self.nats_password_file,
            tls_ca=self.nats_tls_ca,
            tls_cert=self.nats_tls_cert,
            tls_key=self.nats_tls_key,
            inbox_prefix=self.nats_inbox_prefix,
        )


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
        if section not in data and data and all(isinstance(v, dict) for v in data.values()):
            log.warning(  # e.g. a file with only [metrics] given to `serve store`
                "%s: no [%s] table and no top-level settings: nothing in it is read (has %s)",
                path,
                section,
                ", ".join(f"[{k}]" for k in data),
            )
        unknown = {k for k in table if not isinstance(table[k], dict)} - fields
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
        merged.update({k: v for k, v in table.items() if k in fields})
        urls = merged.get("nats_url")
        if isinstance(urls, list) and all(isinstance(u, str) for u in urls):
            merged["nats_url"] = ",".join(urls)  # a cluster's nodes, as a TOML list
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
