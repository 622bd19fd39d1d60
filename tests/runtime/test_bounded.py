"""The runtime's bounded waits at shutdown leave nothing behind for asyncio to complain about.

A stop that cuts "finishing the batches in hand" short cancels a gather of the pull loops;
a cancelled gather ends with ``CancelledError`` set as its exception, and unless someone
reads it asyncio logs "exception was never retrieved" (an ERROR) when it is collected.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from tradewire.consumers.runtime._service import _bounded


async def test_a_gather_cut_short_is_not_reported_as_an_unretrieved_exception() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        pulling = asyncio.ensure_future(asyncio.sleep(30))
        await _bounded(asyncio.gather(pulling, return_exceptions=True), 0.01, "finishing")
        assert pulling.cancelled()
        gc.collect()
    finally:
        loop.set_exception_handler(None)
    assert [c.get("message") for c in reported] == []
