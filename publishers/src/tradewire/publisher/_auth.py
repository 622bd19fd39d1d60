"""Who a client is to NATS, and how it reaches it: credentials, TLS, its inbox prefix.

One object for the publisher, every service and every CLI command, so each accepts the
same things under the same names: a ``.creds`` file (operator/JWT mode), an nkey seed
file, or a user with a password (given directly, from the environment, or from a file);
a CA file for ``tls://`` servers, and a client certificate when the server wants one.

The inbox prefix follows the credential (``_INBOX.<public key>`` for an nkey, ``_INBOX.
<user>`` for a user): a server that lets each identity subscribe only below its own
prefix keeps one client from reading another's replies (PubAcks, SQL results).

Secrets are never kept in a form that prints: ``repr`` leaves the password out, and
seeds stay in their files (nats-py reads them at each connect to sign the nonce).
"""

from __future__ import annotations

import dataclasses
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["NATS_ENV_PREFIX", "NatsAuth", "NatsAuthError", "read_seed"]

# Environment names: TRADEWIRE_NATS_NKEY_SEED, TRADEWIRE_NATS_TLS_CA, ...
NATS_ENV_PREFIX = "TRADEWIRE_NATS_"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
_SEED = re.compile(rb"^S[A-Z][A-Z2-7]{56}$")
_CREDS_SEED = re.compile(rb"-----BEGIN USER NKEY SEED-----\s*(\S+)\s*------END USER NKEY SEED")


class NatsAuthError(ValueError):
    """Credentials or TLS settings that cannot work; the message names the setting."""


def read_seed(path: str | Path) -> bytes:
    """The nkey seed in ``path``: a seed file (one line) or a ``.creds`` file."""
    data = Path(path).read_bytes()
    match = _CREDS_SEED.search(data)
    seed = (match.group(1) if match else data).strip()
    if not _SEED.match(seed):
        raise NatsAuthError(f"{path}: no nkey seed in it (a seed starts with S and has 58 chars)")
    return seed


@dataclass(frozen=True, kw_only=True)
class NatsAuth:
    """Credentials and TLS for one NATS client; all empty: anonymous, plain TCP.

    Names match the settings (``nats_<name>`` in a service, ``--nats-<name>`` on the
    command line, ``TRADEWIRE_NATS_<NAME>`` in the environment).
    """

    creds: str = ""  # .creds file: user JWT + seed (operator/JWT mode)
    nkey_seed: str = ""  # file holding an nkey seed (SU...), as `tradewire auth` writes
    user: str = ""
    password: str = field(default="", repr=False)
    password_file: str = ""  # the password in a file (a Docker secret)
    tls_ca: str = ""  # CA bundle that signed the server's certificate (tls:// URLs)
    tls_cert: str = ""  # client certificate, for servers that verify clients
    tls_key: str = ""
    inbox_prefix: str = ""  # default: from the credential (see the module doc)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NatsAuth:
        """``TRADEWIRE_NATS_CREDS``, ``..._NKEY_SEED``, ``..._USER``, ``..._PASSWORD``, ..."""
        env = os.environ if env is None else env
        values = {
            f.name: env.get(NATS_ENV_PREFIX + f.name.upper(), "") for f in dataclasses.fields(cls)
        }
        return cls(**values)

    def merged(self, **values: str | None) -> NatsAuth:
        """A copy with the given non-empty values (flags over the environment)."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v})

    @property
    def configured(self) -> bool:
        return any(getattr(self, f.name) for f in dataclasses.fields(self))

    def check(self) -> None:
        """Raise NatsAuthError for settings no connection attempt can make work."""
        given = [n for n in ("creds", "nkey_seed", "user") if getattr(self, n)]
        if len(given) > 1:
            raise NatsAuthError(
                f"nats credentials: give one of creds, nkey_seed or user, not {given}"
            )
        if (self.password or self.password_file) and not self.user:
            raise NatsAuthError("nats_password needs nats_user")
        if self.password and self.password_file:
            raise NatsAuthError("give nats_password or nats_password_file, not both")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise NatsAuthError("nats_tls_cert and nats_tls_key go together")
        for name in ("creds", "nkey_seed", "password_file", "tls_ca", "tls_cert", "tls_key"):
            path = getattr(self, name)
            if path and not os.access(path, os.R_OK):
                raise NatsAuthError(f"nats_{name} {path}: not a readable file")
        if self.nkey_seed or self.creds:
            self.public_key()  # raises for a file without a seed
        if self.inbox_prefix and not all(_TOKEN.match(t) for t in self.inbox_prefix.split(".")):
            raise NatsAuthError(f"nats_inbox_prefix {self.inbox_prefix!r}: not a subject prefix")

    def public_key(self) -> str:
        """The nkey public key (``U...``) of the seed or creds file; empty without one."""
        path = self.nkey_seed or self.creds
        if not path:
            return ""
        try:
            import nkeys  # noqa: PLC0415 - an optional extra, for clients with a key
        except ImportError:
            raise NatsAuthError(
                f"{path}: an nkey needs the nkeys package: pip install 'tradewire-publisher[nkeys]'"
            ) from None
        try:
            pair = nkeys.from_seed(bytearray(read_seed(path)))
        except nkeys.NkeysError as exc:
            raise NatsAuthError(f"{path}: not a valid nkey seed ({type(exc).__name__})") from None
        try:
            key: bytes = pair.public_key
            return key.decode()
        finally:
            pair.wipe()

    def identity(self) -> str:
        """Who this client is, fit for logs: the public key, the user, or ``anonymous``."""
        return self.public_key() or self.user or "anonymous"

    def inbox(self) -> str:
        """The inbox prefix to connect with (see the module doc)."""
        if self.inbox_prefix:
            return self.inbox_prefix
        name = self.public_key() or (self.user if self.user and _TOKEN.match(self.user) else "")
        return f"_INBOX.{name}" if name else "_INBOX"

    def secret_password(self) -> str:
        if self.password_file:
            return Path(self.password_file).read_text().strip()
        return self.password

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client TLS context when a CA or a client certificate is set, else None
        (nats-py then uses the system's CAs for ``tls://``)."""
        if not (self.tls_ca or self.tls_cert):
            return None
        ctx = ssl.create_default_context(cafile=self.tls_ca or None)
        if self.tls_cert:
            ctx.load_cert_chain(self.tls_cert, self.tls_key)
        return ctx

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect`` / ``Client.connect``."""
        options: dict[str, Any] = {"inbox_prefix": self.inbox()}
        if self.creds:
            options["user_credentials"] = self.creds
        elif self.nkey_seed:
            options["nkeys_seed"] = self.nkey_seed
        elif self.user:
            options["user"] = self.user
            options["password"] = self.secret_password()
        ctx = self.ssl_context()
        if ctx is not None:
            options["tls"] = ctx
        return options
