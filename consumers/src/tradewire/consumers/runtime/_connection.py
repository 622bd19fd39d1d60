"""A service's NATS connection: retried forever with capped backoff, one log line per try.

nats-py retries on its own (``max_reconnect_attempts=-1``), but at a fixed pace and,
unless told otherwise, logs a full traceback for every failed attempt: 1,695 of them in
14 minutes for a wrong URL. Here each failed attempt (first connect or reconnect) is
one WARNING line that says where, why, which attempt and when the next one is, and
the pause doubles from 0.5 s up to 5 s. nats-py sleeps ``options["reconnect_time_wait"]``
between attempts and reads it afresh each time, so the backoff sets that value.

The connection's state feeds readiness (``/ready`` is 503 while it is down) and the
pipeline metrics. What retrying cannot mend goes to ``on_fatal`` instead: a URL that
cannot work (wrong scheme, bad port: a ConfigError before any attempt), an attempt that
fails with anything but a network or NATS error (a bug, not an outage), and a
connection the server closes for good (e.g. an authorization violation).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import nats.errors
from nats.aio.client import Client

from tradewire.publisher import NatsAuth, server_urls

from ._config import ConfigError

__all__ = ["Backoff", "NatsLink", "check_url", "describe", "redact_url"]

log = logging.getLogger("tradewire.consumers.nats")
# Errors that mean the connection just went away (a reconnect follows).
_LOST = (OSError, nats.errors.UnexpectedEOF, nats.errors.StaleConnectionError)
# What a failed connection attempt may raise and still be worth another try.
_RETRYABLE = (OSError, nats.errors.Error)
_SCHEMES = ("nats", "tls", "ws", "wss")


def describe(exc: BaseException) -> str:
    """``Type: message`` on one line (the message alone is often empty or unhelpful)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def redact_url(url: str) -> str:
    """The URL(s) without passwords or tokens, fit for logs and ``/health``."""
    out = []
    for one in url.split(","):
        try:
            parts = urlsplit(one.strip())
        except ValueError:  # not a URL at all: hide whatever comes before an @
            scheme, sep, rest = one.strip().rpartition("://")
            out.append(scheme + sep + ("***@" + rest.rsplit("@", 1)[1] if "@" in rest else rest))
            continue
        if parts.username or parts.password:
            host = parts.hostname or ""
            netloc = f"***@{host}:{parts.port}" if parts.port else f"***@{host}"
            parts = parts._replace(netloc=netloc)
        out.append(urlunsplit(parts))
    return ",".join(out)


def check_url(url: str) -> None:
    """Raise ConfigError for a NATS URL no retry can make work (scheme, host, port)."""
    for item in url.split(","):
        one = item.strip()
        try:
            parts = urlsplit(one if "://" in one else f"nats://{one}")
            port = parts.port  # raises for a port that is not a number in 0-65535
        except ValueError as exc:
            raise ConfigError(f"nats_url {redact_url(one)!r}: {exc}") from None
        if parts.scheme not in _SCHEMES:
            raise ConfigError(
                f"nats_url {redact_url(one)!r}: scheme must be one of "
                f"{', '.join(s + '://' for s in _SCHEMES)}"
            )
        if not parts.hostname or port == 0:
            raise ConfigError(f"nats_url {redact_url(one)!r}: needs a host (and a port > 0)")


class Backoff:
    """Pauses between connection attempts: ``first`` doubling up to ``cap``, +-10% jitter."""

    def __init__(self, first: float = 0.5, cap: float = 5.0) -> None:
        self.first = first
        self.cap = cap
        self.attempts = 0

    def next(self) -> float:
        self.attempts += 1
        pause = min(self.cap, self.first * 2.0 ** min(self.attempts - 1, 20))
        return pause * random.uniform(0.9, 1.1)  # spreads retries of many services

    def reset(self) -> None:
        self.attempts = 0


class NatsLink:
    """Owns one service's nats-py client from the first connect to the final close."""

    def __init__(
        self,
        url: str,
        name: str,
        *,
        on_change: Callable[[], None] = lambda: None,
        on_fatal: Callable[[str, BaseException | None], None] = lambda reason, exc: None,
        backoff: Backoff | None = None,
        connect_timeout: float = 2.0,
        auth: NatsAuth | None = None,
    ) -> None:
        self.url = url
        self.name = name
        self.auth = auth or NatsAuth()
        self.client = Client()
        self.backoff = backoff or Backoff()
        self.connect_timeout = connect_timeout
        self._on_change = on_change
        self._on_fatal = on_fatal
        self.closing = False  # we are closing it: errors and callbacks are expected
        self.reconnects = 0
        self.last_error = ""
        self.last_error_at = 0.0  # time.time(); 0: none yet
        self.down_since: float | None = time.monotonic()  # None while connected

    @property
    def connected(self) -> bool:
        return self.client.is_connected

    async def connect(self) -> Client:
        """Connect, retrying until it works (cancel to give up); later losses reconnect."""
        check_url(self.url)
        try:
            self.auth.check()
            options = self.auth.connect_options()
            identity = self.auth.identity()
        except (ValueError, OSError) as exc:
            raise ConfigError(str(exc)) from None
        where = redact_url(self.url)
        log.info("%s: connecting to NATS at %s as %s", self.name, where, identity)
        await self.client.connect(
            server_urls(self.url),  # a cluster's nodes: reconnects go to any of them
            name=f"tradewire-{self.name}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=self.backoff.first,  # type: ignore[arg-type]  # float works
            connect_timeout=self.connect_timeout,  # type: ignore[arg-type]  # float works
            drain_timeout=2,
            error_cb=self._error,
            disconnected_cb=self._disconnected,
            reconnected_cb=self._reconnected,
            closed_cb=self._closed,
            **options,
        )
        log.info("%s: connected to NATS at %s", self.name, where)
        self._up()
        return self.client

    async def close(self) -> None:
        """Drain if connected (in-flight replies go out), else just close."""
        self.closing = True
        client = self.client
        try:
            if client.is_connected:
                await client.drain()
        except Exception as exc:
            log.debug("%s: draining NATS: %s", self.name, describe(exc))
        if client.is_closed:
            return
        try:
            await client.close()
        except Exception as exc:  # e.g. a client whose connect never got as far as a server
            log.debug("%s: closing NATS: %s", self.name, describe(exc))

    # -- nats-py callbacks --------------------------------------------------------------
    def _record(self, exc: BaseException) -> None:
        self.last_error = describe(exc)
        self.last_error_at = time.time()

    async def _error(self, exc: Exception) -> None:
        if self.closing:
            return
        self._record(exc)
        client = self.client
        if client.is_connected or client.is_closed or client.is_draining:
            if isinstance(exc, _LOST):  # the "lost the connection" line follows, with it
                return
            log.warning("%s: NATS: %s", self.name, self.last_error)
            return
        # Not connected: a first connect or a reconnect attempt failed.
        if not isinstance(exc, _RETRYABLE):
            self._on_fatal(f"connecting to NATS failed: {self.last_error}", exc)
            return
        pause = self.backoff.next()
        client.options["reconnect_time_wait"] = pause
        log.warning(
            "%s: cannot connect to NATS at %s (attempt %d): %s; next try in %.1f s",
            self.name,
            redact_url(self.url),
            self.backoff.attempts,
            self.last_error,
            pause,
        )
        self._on_change()

    async def _disconnected(self) -> None:
        if self.closing or self.down_since is not None:
            return
        self.down_since = time.monotonic()
        log.warning(
            "%s: lost the NATS connection (%s); reconnecting",
            self.name,
            self.last_error or "closed",
        )
        self._on_change()

    async def _reconnected(self) -> None:
        self.reconnects += 1
        down = time.monotonic() - (self.down_since or time.monotonic())
        log.warning(
            "%s: reconnected to NATS at %s after %.1f s",
            self.name,
            redact_url(self.url),
            down,
        )
        self._up()

    async def _closed(self) -> None:
        if self.closing:
            return
        reason = f"NATS connection closed: {self.last_error or 'by the server'}"
        self._on_change()
        self._on_fatal(reason, None)

    def _up(self) -> None:
        self.down_since = None
        self.backoff.reset()
        self.client.options["reconnect_time_wait"] = self.backoff.first
        self._on_change()
