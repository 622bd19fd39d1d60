"""Waiting on conditions, never on the clock: the one polling helper every test uses.

A test that sleeps and then asserts passes or fails by how busy the machine is; one that
waits for the condition it needs (or for a later event that proves the earlier ones were
handled) does not. ``timeout`` only bounds a test that is going to fail anyway.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable

__all__ = ["wait_until", "wait_until_sync"]


def _describe(pred: object, what: str) -> str:
    return what or getattr(pred, "__qualname__", repr(pred))


async def wait_until(
    pred: Callable[[], object],
    *,
    timeout: float = 30.0,
    interval: float = 0.02,
    what: str = "",
) -> None:
    """Poll ``pred`` (sync, or returning an awaitable) until it gives something truthy.

    Fails with the last value seen, so a timeout says how far the condition got.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g}s waiting for {_describe(pred, what)}; "
                f"last value {value!r}"
            )
        await asyncio.sleep(interval)


def wait_until_sync(
    pred: Callable[[], object], *, timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> None:
    """:func:`wait_until` for code outside an event loop (fixtures that start processes)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g}s waiting for {_describe(pred, what)}; "
                f"last value {value!r}"
            )
        time.sleep(interval)
