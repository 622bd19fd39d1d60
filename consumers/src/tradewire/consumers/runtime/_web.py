"""TLS and basic auth for the HTTP endpoints, configured like a Prometheus exporter.

The file is the Prometheus exporter-toolkit's ``web.yml`` (``--web.config.file`` of
node_exporter and friends), so a standard scrape config (``scheme: https``,
``tls_config``, ``basic_auth``) authenticates against it::

    tls_server_config:
      cert_file: server.crt          # paths are relative to this file
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional: mutual TLS
      client_ca_file: ca.crt
      min_version: TLS12
    basic_auth_users:
      prometheus: $2y$10$...         # bcrypt (`tradewire auth hash-password`, htpasswd -B)
    http_server_config:
      headers: {Strict-Transport-Security: max-age=31536000}

Differences from the toolkit: the file is read once, at start (restart to rotate a
certificate); cipher suites and curves are Python's defaults (setting them is an error
rather than silently ignored); ``/live`` and ``/ready`` answer without credentials, so
an orchestrator's probes need none (they say only whether the service is up).

A password is checked with bcrypt in a worker thread (tens of milliseconds by design);
a success is remembered for the process's life by a hash of the credentials, so a
scrape every few seconds does not pay it each time. An unknown user costs the same
check as a known one, so timing does not tell which users exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ssl
from pathlib import Path
from typing import Literal

import bcrypt
import msgspec
import yaml

from ._config import ConfigError

__all__ = ["OPEN_ROUTES", "WebConfig", "load_web_config"]

# Probes: answered without credentials (see the module doc).
OPEN_ROUTES = frozenset({"/live", "/ready"})
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Compared against when the user is unknown: same cost as a real check.
_DUMMY_HASH = bcrypt.hashpw(b"tradewire-no-such-user", bcrypt.gensalt(10))


class _Tls(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    cert_file: str = ""
    key_file: str = ""
    client_auth_type: Literal[
        "NoClientCert",
        "RequestClientCert",
        "VerifyClientCertIfGiven",
        "RequireAnyClientCert",
        "RequireAndVerifyClientCert",
    ] = "NoClientCert"
    client_ca_file: str = ""
    min_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = "TLS12"
    max_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = "TLS13"


class _Http(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    http2: bool = True  # accepted for compatibility; HTTP/1.1 is served
    headers: dict[str, str] = msgspec.field(default_factory=dict)


class _File(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    tls_server_config: _Tls | None = None
    http_server_config: _Http | None = None
    basic_auth_users: dict[str, str] = msgspec.field(default_factory=dict)


class WebConfig:
    """A loaded web.yml: the server's TLS context and the basic auth check."""

    def __init__(self, path: Path, parsed: _File) -> None:
        self.path = path
        self.users = {u: h.encode() for u, h in parsed.basic_auth_users.items()}
        self.headers = dict(parsed.http_server_config.headers) if parsed.http_server_config else {}
        self.tls: ssl.SSLContext | None = None
        self._ok: set[bytes] = set()  # digests of credentials already checked
        tls = parsed.tls_server_config
        if tls is not None:
            self.tls = self._context(tls)
        for user, hashed in self.users.items():
            if not hashed.startswith((b"$2a$", b"$2b$", b"$2y$")):
                raise ConfigError(f"{path}: basic_auth_users.{user}: not a bcrypt hash")

    def _file(self, name: str) -> str:
        return str((self.path.parent / name).resolve())

    def _context(self, tls: _Tls) -> ssl.SSLContext:
        where = f"{self.path}: tls_server_config"
        if not (tls.cert_file and tls.key_file):
            raise ConfigError(f"{where}: cert_file and key_file are required")
        for name in ("cert_file", "key_file", "client_ca_file"):
            value = getattr(tls, name)
            if value and not Path(self._file(value)).is_file():
                raise ConfigError(f"{where}.{name}: {self._file(value)}: no such file")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = _VERSIONS[tls.min_version]
        ctx.maximum_version = _VERSIONS[tls.max_version]
        try:
            ctx.load_cert_chain(self._file(tls.cert_file), self._file(tls.key_file))
            ctx.verify_mode = _CLIENT_AUTH[tls.client_auth_type]
            if tls.client_ca_file:
                ctx.load_verify_locations(self._file(tls.client_ca_file))
            elif ctx.verify_mode != ssl.CERT_NONE:
                raise ConfigError(f"{where}: {tls.client_auth_type} needs client_ca_file")
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
        return ctx

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def authenticates(self) -> bool:
        return bool(self.users)

    async def authorized(self, header: str) -> bool:
        """Whether an ``Authorization`` header holds valid basic auth credentials."""
        if not self.users:
            return True
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep:
            return False
        digest = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        if any(hmac.compare_digest(digest, ok) for ok in self._ok):
            return True
        hashed = self.users.get(user, _DUMMY_HASH)
        good = await asyncio.to_thread(bcrypt.checkpw, password.encode(), hashed)
        if good and user in self.users:
            self._ok.add(digest)
            return True
        return False


def load_web_config(path: str | Path) -> WebConfig:
    """Read and check a web.yml; ConfigError names the file and what is wrong."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
        parsed = msgspec.convert(data, _File)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"web_config {path}: {exc}") from None
    except msgspec.ValidationError as exc:
        raise ConfigError(f"web_config {path}: {exc}") from None
    return WebConfig(path, parsed)
