"""Where the CLI finds NATS: a configured URL always wins, else an embedded server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from .embedded import EmbeddedNats

__all__ = ["configured_url", "nats_url"]


def configured_url(flag: str | None) -> str | None:
    """``--nats-url``, else ``$TRADEWIRE_NATS_URL``, else None."""
    return flag or os.environ.get("TRADEWIRE_NATS_URL") or None


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
