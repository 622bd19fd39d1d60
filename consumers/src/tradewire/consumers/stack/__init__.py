"""The operator's stack as processes: ``tradewire stack up|down|status``.

NATS, the three services, Prometheus, Alertmanager and the node exporter, started from
the same config files the compose stack mounts (``compose/``), rendered for 127.0.0.1.
"""

from ._layout import COMPONENTS, Component, StackError, find_compose_dir, ports_for
from ._procs import Proc, StackState, Status, down, load_state, status, up
from ._render import (
    SECRETS_DIR,
    Overrides,
    render_alertmanager,
    render_prometheus,
    render_rules,
    secret_files,
)

__all__ = [
    "COMPONENTS",
    "SECRETS_DIR",
    "Component",
    "Overrides",
    "Proc",
    "StackError",
    "StackState",
    "Status",
    "down",
    "find_compose_dir",
    "load_state",
    "ports_for",
    "render_alertmanager",
    "render_prometheus",
    "render_rules",
    "secret_files",
    "status",
    "up",
]
