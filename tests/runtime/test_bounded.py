"""The runtime's bounded waits at shutdown: what they allow, and that they leave nothing
behind for asyncio to complain about.

A stop that cuts "finishing the batches in hand" short cancels a gather of the pull loops;
a cancelled gather ends with ``CancelledError`` set as its exception, and unless someone
reads it asyncio logs "exception was never retrieved" (an ERROR) when it is collected.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.consumers.runtime._service import TEARDOWN_S, _bounded


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


class _SlowTeardown(MetricsService):
    """A teardown with more to do than its own step allows (the alerts service saving
    thousands of keys on a loaded box: F9 of the operator trial)."""

    finished = False

    async def teardown(self) -> None:
        await super().teardown()
        await asyncio.sleep(TEARDOWN_S * 1.6)  # the work, not a wait for a condition
        self.finished = True


@pytest.mark.nats
async def test_teardown_gets_what_the_consumers_left_of_the_stop_budget(
    nats_server: EmbeddedNats,
) -> None:
    service = _SlowTeardown(MetricsConfig(nats_url=nats_server.url, http_port=0))
    task = await service.start(20)
    service.stop()  # nothing in hand: the consumers' step ends at once
    assert await task == 0
    assert service.finished
