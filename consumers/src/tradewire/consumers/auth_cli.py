"""``tradewire auth ...``: a fleet's NATS identities, and password hashes for web.yml."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import signal
import sys
import time
from pathlib import Path

import bcrypt

from tradewire.schemas import DEFAULT_ROOT

from .auth import SERVICES, AuthDir, Identity

__all__ = ["add_auth_commands", "run_auth_command"]

EPILOG = """examples:
  tradewire auth init --root tradewire --bot bot-1 --bot bot-2 --operator ana
  tradewire auth add-bot bot-3 --reload $(pidof nats-server)
  tradewire auth revoke bot-2 --reload $(pidof nats-server)
  tradewire auth rotate store
  tradewire auth list
  tradewire auth hash-password            # a bcrypt hash for web.yml's basic_auth_users
the directory (--dir, $TRADEWIRE_AUTH_DIR, default ./tradewire-auth) holds fleet.json,
the nats-server include nats-auth.conf and one seed file per identity under keys/
(secrets: hand each to its holder only). See docs/security.md."""


def _default_dir() -> Path:
    return Path(os.environ.get("TRADEWIRE_AUTH_DIR") or "tradewire-auth")


def add_auth_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "auth",
        help="NATS identities of the fleet: bots, services, operators",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    auth_sub = p.add_subparsers(dest="auth_command", required=True)
    init = auth_sub.add_parser("init", help="keys for the services, operators and bots")
    init.add_argument("--root", default=DEFAULT_ROOT, help=f"subject root (default {DEFAULT_ROOT})")
    init.add_argument("--bot", action="append", default=[], help="a bot id, repeatable")
    init.add_argument(
        "--operator", action="append", default=[], help="an operator's name (default: admin)"
    )
    add = auth_sub.add_parser("add-bot", help="a key for one more bot")
    add.add_argument("name", help="the bot id")
    op = auth_sub.add_parser("add-operator", help="a key for one more operator")
    op.add_argument("name")
    rev = auth_sub.add_parser("revoke", help="take an identity's key out (after a reload)")
    rev.add_argument("name")
    rot = auth_sub.add_parser("rotate", help="a new key for an identity; the old one is revoked")
    rot.add_argument("name")
    for q in (rev, rot):
        q.add_argument("--role", choices=["bot", *SERVICES, "operator"], help="if ambiguous")
    ins = auth_sub.add_parser(
        "instances",
        help="services run as several partitioned instances: let their durables in",
    )
    ins.add_argument(
        "counts",
        nargs="+",
        metavar="SERVICE=N",
        help="instances of a service (store, metrics, alerts); N=1 for one",
    )
    ins.add_argument(
        "--stream-partitions",
        type=int,
        required=True,
        help="the events stream's partitions (the store's stream_partitions, e.g. 12)",
    )
    ls = auth_sub.add_parser("list", help="identities, roles and public keys")
    ls.add_argument("--all", action="store_true", help="revoked ones too")
    ls.add_argument("--format", choices=["text", "json"], default="text")
    for q in (init, add, op, rev, rot, ins, ls):
        q.add_argument("--dir", type=Path, help="the fleet's auth directory")
    for q in (init, add, op, rev, rot, ins):
        q.add_argument(
            "--reload",
            type=int,
            metavar="PID",
            help="send SIGHUP to this nats-server afterwards, so the change takes effect",
        )
    h = auth_sub.add_parser("hash-password", help="bcrypt hash of a password (read from stdin)")
    h.add_argument("--cost", type=int, default=10, help="bcrypt cost (default 10)")


def _line(identity: Identity, directory: AuthDir) -> str:
    state = "" if identity.live else "  (revoked)"
    key = directory.seed_path(identity)
    where = key if key.exists() else "-"
    return f"  {identity.role:<9} {identity.name:<24} {identity.public_key}  {where}{state}"


def _reload(pid: int | None) -> None:
    if pid is None:
        print("reload nats-server to apply: nats-server --signal reload=<pid> (or kill -HUP)")
        return
    os.kill(pid, signal.SIGHUP)
    print(f"sent SIGHUP to {pid}: nats-server reloads its configuration")


def run_auth_command(args: argparse.Namespace) -> int:
    cmd = args.auth_command
    if cmd == "hash-password":
        secret = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline()
        secret = secret.rstrip("\r\n")
        if not secret:
            raise ValueError("empty password")
        if not 4 <= args.cost <= 16:
            raise ValueError("--cost: between 4 and 16")
        print(bcrypt.hashpw(secret.encode(), bcrypt.gensalt(args.cost)).decode())
        return 0
    path = args.dir or _default_dir()
    if cmd == "init":
        directory = AuthDir.create(path, args.root)
        made = [directory.add(role, role) for role in SERVICES]
        made += [directory.add("operator", n) for n in args.operator or ["admin"]]
        made += [directory.add("bot", b) for b in args.bot]
        print(f"{path}: subject root {args.root}, {len(made)} identities")
        for identity in made:
            print(_line(identity, directory))
        print(
            f"nats-server: `include {directory.include_path.name}` in its config "
            f"(copy {directory.include_path}), then start or reload it"
        )
        _reload(args.reload)
        return 0
    directory = AuthDir.open(path)
    if cmd == "list":
        shown = [i for i in directory.identities if args.all or i.live]
        if args.format == "json":
            rows = [{**_row(i), "seed_file": str(directory.seed_path(i))} for i in shown]
            print(json.dumps({"root": directory.root, "identities": rows}, indent=2))
        else:
            print(f"subject root {directory.root}")
            for identity in shown:
                print(_line(identity, directory))
        return 0
    if cmd == "instances":
        counts: dict[str, int] = {}
        for item in args.counts:
            service, _, n = item.partition("=")
            if not n.isdigit():
                raise ValueError(f"{item!r}: SERVICE=N, e.g. store=2")
            counts[service] = int(n)
        directory.set_instances(counts, args.stream_partitions)
        said = ", ".join(f"{k}={v}" for k, v in counts.items())
        print(f"{directory.include_path}: {said} over {args.stream_partitions} partitions")
    elif cmd in ("add-bot", "add-operator"):
        identity = directory.add("bot" if cmd == "add-bot" else "operator", args.name)
        print(_line(identity, directory))
    elif cmd == "revoke":
        identity = directory.find(args.name, args.role)
        directory.revoke(identity)
        print(f"revoked {identity.role} {identity.name} ({identity.public_key})")
    else:
        identity = directory.rotate(directory.find(args.name, args.role))
        print(_line(identity, directory))
        print("the old key works until the reload: hand the new seed over first")
    _reload(args.reload)
    return 0


def _row(identity: Identity) -> dict[str, object]:
    def when(ts: float | None) -> str | None:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else None

    return {
        "name": identity.name,
        "role": identity.role,
        "public_key": identity.public_key,
        "created_at": when(identity.created_at),
        "revoked_at": when(identity.revoked_at),
    }
