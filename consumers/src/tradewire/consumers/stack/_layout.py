"""What the stack is made of: its components, their ports, and where compose/ lives.

The compose service names and container ports below are the addresses written in the
canonical config files under ``compose/``; ``tradewire stack up`` maps each to
``127.0.0.1:<its port>``. A test checks this table against ``docker-compose config``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ADDRESSES",
    "COMPONENTS",
    "Component",
    "StackError",
    "find_binary",
    "find_compose_dir",
    "ports_for",
]


class StackError(RuntimeError):
    """The stack cannot be started, found or stopped; the message says why in one line."""


@dataclass(frozen=True)
class Component:
    """One process of the stack, named like its compose service."""

    name: str
    port: int  # the container port, and the stack's port unless told otherwise
    ready: str  # path answering 200 once the component is ready ("": none of its own)
    what: str  # shown by `up`
    show: str  # the path `up` prints ("nats://": a NATS URL)
    observability: bool = False  # compose's `observability` profile

    @property
    def process(self) -> str:
        """The process that serves this port (NATS serves two)."""
        return "nats" if self.name == "nats-monitor" else self.name

    def url(self, port: int) -> str:
        if self.show == "nats://":
            return f"nats://127.0.0.1:{port}"
        return f"http://127.0.0.1:{port}{self.show}"


COMPONENTS: tuple[Component, ...] = (
    Component("nats", 4222, "", "NATS (clients, bots)", "nats://"),
    Component("nats-monitor", 8222, "/healthz?js-enabled-only=true", "NATS monitoring", "/"),
    Component("store", 8201, "/ready", "store", "/health"),
    Component("metrics", 8202, "/ready", "metrics", "/metrics"),
    Component("alerts", 8203, "/ready", "alerts", "/health"),
    Component("alertmanager", 9093, "/-/ready", "Alertmanager", "/", observability=True),
    Component("prometheus", 9090, "/-/ready", "Prometheus", "/", observability=True),
    Component("node-exporter", 9100, "/metrics", "node exporter", "/metrics", observability=True),
)
_BY_NAME = {c.name: c for c in COMPONENTS}

# "<compose service>:<container port>" as written in the canonical files -> component.
# nats-monitor is the nats service's second port.
ADDRESSES = {f"{c.process}:{c.port}": c.name for c in COMPONENTS}


def ports_for(base: int | None, overrides: Mapping[str, int]) -> dict[str, int]:
    """Each component's port: the container port, or ``base`` + its place in the table,
    then the per-component ``overrides``; refuses unknown names and repeated ports."""
    unknown = sorted(set(overrides) - set(_BY_NAME))
    if unknown:
        raise StackError(f"unknown component {', '.join(unknown)} (known: {', '.join(_BY_NAME)})")
    ports = {c.name: (c.port if base is None else base + i) for i, c in enumerate(COMPONENTS)}
    ports.update(overrides)
    for name, port in ports.items():
        if not 1 <= port <= 65535:
            raise StackError(f"port {port} of {name} is out of range 1..65535")
    seen: dict[int, str] = {}
    for name, port in ports.items():
        if port in seen:
            raise StackError(f"port {port} given to both {seen[port]} and {name}")
        seen[port] = name
    return ports


def find_compose_dir(explicit: Path | None = None) -> Path:
    """The folder with docker-compose.yml: ``--compose-dir``, ``$TRADEWIRE_COMPOSE_DIR``,
    ``./compose``, or the checkout this package runs from."""
    candidates = [explicit] if explicit else []
    env = os.environ.get("TRADEWIRE_COMPOSE_DIR")
    if env and not explicit:
        candidates.append(Path(env))
    if not candidates:
        candidates += [Path.cwd() / "compose", *(p / "compose" for p in Path(__file__).parents)]
    for c in candidates:
        if (c / "docker-compose.yml").is_file():
            return c.resolve()
    raise StackError(
        f"no docker-compose.yml in {candidates[0]}: pass --compose-dir (the compose/ folder "
        "of a tradewire checkout or release) or set TRADEWIRE_COMPOSE_DIR"
    )


# Debian's package names first, then the upstream binaries' names.
_BINARIES = {
    "prometheus": (("prometheus",), "prometheus"),
    "alertmanager": (("prometheus-alertmanager", "alertmanager"), "prometheus-alertmanager"),
    "node-exporter": (
        ("prometheus-node-exporter", "node_exporter"),
        "prometheus-node-exporter",
    ),
}


def find_binary(component: str) -> str:
    names, package = _BINARIES[component]
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise StackError(
        f"no {' or '.join(names)} on PATH: install Debian's {package} package "
        "(or run `tradewire stack up --core-only`)"
    )
