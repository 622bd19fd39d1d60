"""``tradewire stack up|down|status``: the compose stack's services as local processes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .stack import (
    COMPONENTS,
    Overrides,
    StackError,
    down,
    find_compose_dir,
    ports_for,
    status,
    up,
)

__all__ = ["add_stack_commands", "run_stack_command"]

EPILOG = """examples:
  tradewire stack up                          # ports as in compose: 4222, 8201-8203, 9090, ...
  tradewire stack up --base-port 24000        # 24000 (nats) ... 24007 (node-exporter)
  tradewire stack up --port prometheus=19090 --state-dir /var/lib/tradewire-stack
  tradewire stack status
  tradewire stack down
starts nats-server, tradewire's store, metrics and alerts services, and Debian's
prometheus, prometheus-alertmanager and prometheus-node-exporter, from the config files
in compose/ (addresses rendered for 127.0.0.1). Receivers' secrets come from
TRADEWIRE_AM_SECRET_<NAME> variables, as in compose. Grafana is not started: import
compose/grafana/dashboards/*.json into yours."""


def _port(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    if not sep or not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected NAME=PORT, got {text!r}")
    return name, int(value)


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def add_stack_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "stack",
        help="the production stack as local processes (no Docker)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stack_sub = p.add_subparsers(dest="stack_command", required=True)
    names = ", ".join(c.name for c in COMPONENTS)
    for name, text in (
        ("up", "start the stack and wait until every part is ready"),
        ("down", "stop exactly the processes `up` started"),
        ("status", "each process, and its readiness"),
    ):
        s = stack_sub.add_parser(
            name, help=text, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        s.add_argument(
            "--state-dir",
            type=Path,
            default=Path("tradewire-stack"),
            help="PIDs, rendered configs, data and logs (default ./tradewire-stack)",
        )
        if name == "status":
            s.add_argument("--format", choices=["table", "json"], default="table")
        if name != "up":
            continue
        s.add_argument(
            "--compose-dir",
            type=Path,
            help="the compose/ folder (default: $TRADEWIRE_COMPOSE_DIR, ./compose, the checkout)",
        )
        s.add_argument("--base-port", type=int, help=f"consecutive ports from N, in order: {names}")
        s.add_argument(
            "--port",
            type=_port,
            action="append",
            default=[],
            metavar="NAME=PORT",
            help="one component's port (repeatable)",
        )
        s.add_argument(
            "--core-only",
            action="store_true",
            help="only NATS and the three services (compose without --profile observability)",
        )
        for opt, what in (
            ("scrape-interval", "Prometheus's global scrape_interval"),
            ("evaluation-interval", "Prometheus's global evaluation_interval"),
            ("group-wait", "Alertmanager's route group_wait"),
            ("group-interval", "Alertmanager's route group_interval"),
        ):
            s.add_argument(f"--{opt}", default="", help=f"override {what} (e.g. 1s for a test)")
        s.add_argument(
            "--am-global",
            type=_pair,
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a key of alertmanager.yml's global block (e.g. smtp_smarthost=mx:25)",
        )
        s.add_argument("--timeout", type=float, default=60.0, help="seconds to become ready")


def _up(args: argparse.Namespace) -> int:
    compose = find_compose_dir(args.compose_dir)
    ports = ports_for(args.base_port, dict(args.port))
    over = Overrides(
        scrape_interval=args.scrape_interval,
        evaluation_interval=args.evaluation_interval,
        group_wait=args.group_wait,
        group_interval=args.group_interval,
        am_global=dict(args.am_global),
    )
    state = up(
        compose, args.state_dir, ports, over=over, core_only=args.core_only, timeout=args.timeout
    )
    print(f"stack up from {compose}; state in {args.state_dir.resolve()}")
    started = {p.name for p in state.procs}
    for c in COMPONENTS:
        if c.process in started:
            print(f"  {c.what:<22} {c.url(ports[c.name])}")
    print(f"  {'Grafana':<22} not run here: import compose/grafana/dashboards/*.json")
    return 0


def run_stack_command(args: argparse.Namespace) -> int:
    try:
        if args.stack_command == "up":
            return _up(args)
        if args.stack_command == "down":
            stopped = down(args.state_dir)
            print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
            return 0
        rows = status(args.state_dir)
    except StackError as exc:
        print(f"tradewire stack {args.stack_command}: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps([vars(r) for r in rows], indent=2))
    else:
        print(f"{'process':<14} {'pid':>8}  {'running':<8} {'ready':<6} url")
        for r in rows:
            ready = "-" if r.ready is None else str(r.ready)
            print(f"{r.name:<14} {r.pid:>8}  {'yes' if r.running else 'NO':<8} {ready:<6} {r.url}")
    return 0 if all(r.running and r.ready == 200 for r in rows) else 1
