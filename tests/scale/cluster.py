"""A 3-node nats-server cluster with JetStream on loopback, for the failover tests.

Each node is an :class:`EmbeddedNats` (its own store dir, client port and cluster port,
started and stopped by PID), joined by ``--routes`` to the two others: the flags of the
sample configuration in docs/scaling.md. Ports are picked free beforehand, because each
node must be told the others' cluster ports; a node that cannot bind (another program
took the port meanwhile) makes the whole cluster start again on new ports.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import nats
import nats.errors
from nats.aio.client import Client
from nats.js.api import StorageType, StreamConfig

from tests.net import free_port
from tests.waiting import wait_until
from tradewire.consumers.embedded import EmbeddedNats

__all__ = ["NatsCluster"]

CLUSTER_NAME = "tradewire-test"
_PROBE = "PLACEMENT_PROBE"  # a throwaway stream with a copy on every node


class NatsCluster:
    """``url``: every node's client URL, comma-separated (as ``--nats-url`` takes them)."""

    def __init__(self, base: Path, size: int = 3) -> None:
        self.base = base
        self.size = size
        self.nodes: list[EmbeddedNats] = []

    def _make(self) -> list[EmbeddedNats]:
        clients = [free_port() for _ in range(self.size)]
        routes = [free_port() for _ in range(self.size)]
        nodes = []
        for i in range(self.size):
            others = ",".join(f"nats://127.0.0.1:{p}" for j, p in enumerate(routes) if j != i)
            args = (
                *("--name", f"n{i}", "--cluster_name", CLUSTER_NAME),
                *("--cluster", f"nats://127.0.0.1:{routes[i]}", "--routes", others),
            )
            nodes.append(
                EmbeddedNats(store_dir=self.base / f"n{i}", port=clients[i], extra_args=args)
            )
        return nodes

    def start(self, attempts: int = 3) -> NatsCluster:
        for attempt in range(attempts):
            self.nodes = self._make()
            try:
                for node in self.nodes:
                    node.start()
                return self
            except RuntimeError:
                self.stop()
                if attempt == attempts - 1:
                    raise
        return self

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        return ",".join(self.urls)

    def index(self, name: str) -> int:
        """The node called ``name`` (``n0``, ``n1``, ...)."""
        return int(name.removeprefix("n"))

    def kill(self, i: int) -> None:
        """SIGKILL node ``i`` (by the PID we started it with)."""
        self.nodes[i].stop(kill=True)

    def restart(self, i: int) -> None:
        """Start node ``i`` again: same ports, same store dir."""
        self.nodes[i].start()

    def stop(self) -> None:
        for node in self.nodes:
            node.close()

    async def client(self) -> Client:
        return await nats.connect(
            self.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.2, connect_timeout=2
        )

    async def wait_jetstream(self, nc: Client, timeout: float = 30.0) -> None:
        """Until the nodes have elected a JetStream meta leader (the API answers) and every
        node has joined it: a stream with a copy on each can be placed (before that, the
        server refuses one with "no suitable peers for placement")."""

        async def answers() -> bool:
            with contextlib.suppress(nats.errors.Error, asyncio.TimeoutError):
                info = await nc.request("$JS.API.INFO", b"", timeout=1)
                return b'"error"' not in info.data
            return False

        async def placeable() -> bool:
            js = nc.jetstream(timeout=2.0)
            probe = StreamConfig(
                name=_PROBE,
                subjects=["placement.probe"],
                storage=StorageType.MEMORY,
                num_replicas=self.size,
            )
            with contextlib.suppress(nats.errors.Error, asyncio.TimeoutError):
                await js.add_stream(probe)
                await js.delete_stream(_PROBE)
                return True
            return False

        await wait_until(answers, timeout=timeout, interval=0.2, what="a JetStream meta leader")
        await wait_until(placeable, timeout=timeout, interval=0.2, what="every node in JetStream")
