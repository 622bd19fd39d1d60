"""Where the CLI finds NATS: a configured URL always wins, else an embedded server.

CLI clients connect through :func:`connect_client`: it gives up after a few seconds
with one line saying why, instead of nats-py's default of 60 attempts with a logged
traceback each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import nats.errors
from nats.aio.client import Client

from .embedded import EmbeddedNats

__all__ = ["CONNECT_TIMEOUT_S", "NatsUnreachable", "configured_url", "connect_client", "nats_url"]

CONNECT_TIMEOUT_S = 5.0
log = logging.getLogger("tradewire.cli")


class NatsUnreachable(ConnectionError):
    """No NATS server answered at the URL within the connect timeout."""


def configured_url(flag: str | None) -> str | None:
    """``--nats-url``, else ``$TRADEWIRE_NATS_URL``, else None."""
    return flag or os.environ.get("TRADEWIRE_NATS_URL") or None


async def connect_client(
    url: str, *, name: str, timeout_s: float = CONNECT_TIMEOUT_S, reconnect: bool = False
) -> Client:
    """Connect within ``timeout_s`` or raise NatsUnreachable (one line, no traceback).

    ``reconnect``: once connected, ride out later outages (``tail``); otherwise a lost
    connection ends the command.
    """
    nc = Client()
    errors: list[BaseException] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)
        log.debug("nats %s: %r", url, exc)

    try:
        await asyncio.wait_for(
            nc.connect(
                url,
                name=name,
                connect_timeout=2 if timeout_s >= 2 else 1,
                reconnect_time_wait=1 if reconnect else 0,
                max_reconnect_attempts=-1 if reconnect else 1,
                allow_reconnect=reconnect,
                error_cb=on_error,
            ),
            timeout_s,
        )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        with contextlib.suppress(Exception):
            await nc.close()
        why = errors[-1] if errors else exc
        detail = "no answer" if isinstance(why, TimeoutError) else str(why) or type(why).__name__
        raise NatsUnreachable(f"cannot reach NATS at {url}: {detail}") from None
    return nc


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
