"""Where the CLI finds NATS: a configured URL always wins, else an embedded server.

CLI clients connect through :func:`connect_client`: it gives up after a few seconds
with one line saying why, instead of nats-py's default of 60 attempts with a logged
traceback each. Every command that talks to NATS takes the same credential and TLS
options (:func:`add_auth_arguments`: ``--nats-nkey-seed``, ``--nats-tls-ca``, ...) over
the ``TRADEWIRE_NATS_*`` environment; ``main`` sets them once with :func:`use_auth`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import ssl
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from tradewire.publisher import NatsAuth, server_urls

from .embedded import EmbeddedNats
from .runtime import redact_url

__all__ = [
    "AUTH_SETTINGS",
    "CONNECT_TIMEOUT_S",
    "NatsRefused",
    "NatsUnreachable",
    "add_auth_arguments",
    "auth_from_args",
    "cli_auth",
    "configured_url",
    "connect_client",
    "nats_url",
    "request",
    "use_auth",
]

CONNECT_TIMEOUT_S = 5.0
log = logging.getLogger("tradewire.cli")


# NatsAuth's fields, as settings and flags: nats_nkey_seed / --nats-nkey-seed, ...
AUTH_SETTINGS = tuple(f"nats_{f.name}" for f in dataclasses.fields(NatsAuth))
# A password is a secret: never a flag (visible in `ps`); env or a file instead.
_NO_FLAG = {"nats_password"}
_HELP = {
    "nats_creds": "a .creds file (JWT and seed, operator mode)",
    "nats_nkey_seed": "nkey seed file, as `tradewire auth` writes it",
    "nats_user": "user name (password from $TRADEWIRE_NATS_PASSWORD or --nats-password-file)",
    "nats_password_file": "file holding the password",
    "nats_tls_ca": "CA file that signed the server's certificate (tls:// URLs)",
    "nats_tls_cert": "client certificate, for servers that verify clients",
    "nats_tls_key": "the client certificate's key",
    "nats_inbox_prefix": "reply subject prefix (default _INBOX.<public key or user>)",
}
_PERMISSION = re.compile(r"permissions violation", re.I)
# nats-py lower-cases the server's -ERR text: `... for publish to "tradewire.sql"`.
_REFUSED_PUBLISH = re.compile(r'permissions violation for publish to "([^"]+)"', re.I)
_current: NatsAuth | None = None


class NatsUnreachable(ConnectionError):
    """No NATS server answered at the URL within the connect timeout."""


class NatsRefused(PermissionError):
    """The server refused a request's publish: this credential may not send there."""


class _Refusals:
    """Requests waiting on a client, by subject, to end at once when the server refuses one.

    A refused publish gets no reply, only an async ``-ERR``; without this a request would
    wait out its whole timeout and then blame whoever was meant to answer.
    """

    def __init__(self) -> None:
        self.waiting: dict[str, set[asyncio.Future[str]]] = {}

    def refused(self, error: str, line: str) -> None:
        """``error``: the server's, naming the subject; ``line``: what to tell the user."""
        if m := _REFUSED_PUBLISH.search(error):
            for fut in self.waiting.pop(m.group(1).lower(), set()):
                if not fut.done():
                    fut.set_result(line)


_refusals: weakref.WeakKeyDictionary[Client, _Refusals] = weakref.WeakKeyDictionary()


def add_auth_arguments(p: argparse.ArgumentParser) -> None:
    """The credential and TLS options, named like the services' settings."""
    group = p.add_argument_group("NATS credentials and TLS (default: $TRADEWIRE_NATS_<NAME>)")
    for name in AUTH_SETTINGS:
        if name not in _NO_FLAG:
            group.add_argument("--" + name.replace("_", "-"), dest=name, help=_HELP[name])


def auth_from_args(args: argparse.Namespace) -> NatsAuth:
    """The environment's credentials, with the command line's over them."""
    flags = {n.removeprefix("nats_"): getattr(args, n, None) for n in AUTH_SETTINGS}
    return NatsAuth.from_env().merged(**flags)


def use_auth(auth: NatsAuth | None) -> None:
    """Set the credentials every client of this command uses (None: the environment's)."""
    global _current  # noqa: PLW0603 - one command per process: its options, set once
    _current = auth


def cli_auth() -> NatsAuth:
    """The credentials set by :func:`use_auth`, else the environment's."""
    return _current if _current is not None else NatsAuth.from_env()


def _hint(exc: BaseException, auth: NatsAuth) -> str:
    """What to do about a TLS or auth failure, for the one-line error."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        if auth.tls_ca:
            return f" (the server's certificate is not signed by {auth.tls_ca})"
        return " (pass --nats-tls-ca or set TRADEWIRE_NATS_TLS_CA to the CA that signed it)"
    text = str(exc).lower()
    if "authorization violation" in text or "authentication" in text:
        return f" (as {auth.identity()}: check the credential, or whether it was revoked)"
    return ""


def configured_url(flag: str | None) -> str | None:
    """``--nats-url``, else ``$TRADEWIRE_NATS_URL``, else None."""
    return flag or os.environ.get("TRADEWIRE_NATS_URL") or None


async def connect_client(
    url: str,
    *,
    name: str,
    timeout_s: float = CONNECT_TIMEOUT_S,
    reconnect: bool = False,
    auth: NatsAuth | None = None,
) -> Client:
    """Connect within ``timeout_s`` or raise NatsUnreachable (one line, no traceback).

    ``reconnect``: once connected, ride out later outages (``tail``); otherwise a lost
    connection ends the command. ``auth``: default :func:`cli_auth`. A request the
    server refuses for permissions gets no answer; its reason is logged (WARNING), and
    :func:`request` ends at once with it instead of waiting out its timeout.
    """
    auth = auth or cli_auth()
    auth.check()
    nc = Client()
    errors: list[BaseException] = []

    refusals = _refusals.setdefault(nc, _Refusals())

    async def on_error(exc: Exception) -> None:
        errors.append(exc)
        if _PERMISSION.search(str(exc)) and nc.is_connected:
            line = f"NATS refused (as {auth.identity()}): {exc}"
            log.warning("%s", line)
            refusals.refused(str(exc), line)
        log.debug("nats %s: %r", url, exc)

    try:
        await asyncio.wait_for(
            nc.connect(
                server_urls(url),
                name=name,
                connect_timeout=2 if timeout_s >= 2 else 1,
                reconnect_time_wait=1 if reconnect else 0,
                max_reconnect_attempts=-1 if reconnect else 1,
                allow_reconnect=reconnect,
                error_cb=on_error,
                **auth.connect_options(),
            ),
            timeout_s,
        )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        with contextlib.suppress(Exception):
            # nats-py's close() can hang after a failed TLS handshake: bounded.
            await asyncio.wait_for(nc.close(), 1.0)
        why = errors[-1] if errors else exc
        detail = "no answer" if isinstance(why, TimeoutError) else str(why) or type(why).__name__
        raise NatsUnreachable(
            f"cannot reach NATS at {redact_url(url)}: {detail}{_hint(why, auth)}"
        ) from None
    return nc


async def request(
    nc: Client,
    subject: str,
    data: bytes,
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
) -> Msg:
    """``nc.request``, ended at once with :class:`NatsRefused` if the server refuses the
    publish (for clients from :func:`connect_client`, whose errors it watches)."""
    refusals = _refusals.get(nc)
    if refusals is None:
        return await nc.request(subject, data, timeout=timeout, headers=headers)
    refusal: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    key = subject.lower()
    waiting = refusals.waiting.setdefault(key, set())
    waiting.add(refusal)
    asking = asyncio.ensure_future(nc.request(subject, data, timeout=timeout, headers=headers))
    try:
        either: set[asyncio.Future[Any]] = {asking, refusal}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.discard(refusal)
        if not waiting:
            refusals.waiting.pop(key, None)
        if not asking.done():
            asking.cancel()
            await asyncio.gather(asking, return_exceptions=True)
    if refusal.done() and (asking.cancelled() or asking.exception() is not None):
        raise NatsRefused(refusal.result())
    return asking.result()


@contextmanager
def nats_url(flag: str | None, *, say: bool = True) -> Iterator[str]:
    """Yield a usable NATS URL, starting (and afterwards stopping) an embedded server if needed."""
    url = configured_url(flag)
    if url:
        yield url
        return
    with EmbeddedNats() as server:
        if say:
            print(
                f"embedded nats-server {server.binary} at {server.url} (store {server.store_dir})"
            )
        yield server.url
