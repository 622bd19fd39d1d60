"""``tradewire bots ...``: the bots the services know, and retiring one for good."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import json
import sys

import msgspec
from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError, KeyNotFoundError

from tradewire.schemas import Subjects

from ._nats import configured_url, connect_client
from .alerts import AlertsConfig
from .alerts._engine import BotState
from .alerts._state import BOT_PREFIX
from .fleet import Retirement, check_bot_id, list_retired, open_fleet_bucket, retire_bot
from .runtime import read_prefix

__all__ = ["add_bots_commands", "run_bots_command"]

EPILOG = """examples:
  tradewire bots list
  tradewire bots retire sim-bot-07 --comment "decommissioned (ana)"
A retired bot's alerts resolve and are not raised again, and its series leave the metrics
service's /metrics; the store keeps its history. A retired bot that publishes again is
live again. Both talk to NATS (--nats-url or $TRADEWIRE_NATS_URL)."""

_BUCKET = AlertsConfig().state_bucket  # the alerts service's default


def add_bots_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bots",
        help="known bots; retire one",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bots_sub = p.add_subparsers(dest="bots", required=True)
    ls = bots_sub.add_parser("list", help="bots with their latest event, live or retired")
    ls.add_argument("--format", choices=["text", "json"], default="text")
    r = bots_sub.add_parser("retire", help="take a bot out of the fleet for good")
    r.add_argument("bot", help="the bot id")
    r.add_argument("--comment", default="", help="why, and who to ask")
    r.add_argument("--by", default="", help="who (default: the current user)")
    r.add_argument(
        "--force", action="store_true", help="retire a bot the alerts service has not seen"
    )
    for q in (ls, r):
        q.add_argument("--nats-url", help="NATS server URL (default $TRADEWIRE_NATS_URL)")
        q.add_argument("--root", default="tradewire", help="subject root (default tradewire)")
        q.add_argument(
            "--bucket", default=_BUCKET, help=f"the alerts service's bucket (default {_BUCKET})"
        )


def run_bots_command(args: argparse.Namespace) -> int:
    if args.bots == "retire":
        check_bot_id(args.bot)
    url = configured_url(args.nats_url)
    if not url:
        raise ValueError("no NATS URL: pass --nats-url or set TRADEWIRE_NATS_URL")
    return asyncio.run(_with_nats(args, url, Subjects(args.root)))


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


async def _with_nats(args: argparse.Namespace, url: str, subjects: Subjects) -> int:
    nc = await connect_client(url, name=f"tradewire-bots-{args.bots}")
    try:
        if args.bots == "retire":
            return await _retire(args, nc, subjects)
        known = await read_prefix(nc.jetstream(), args.bucket, BOT_PREFIX, BotState)
        _print(known, await list_retired(nc, subjects), args.format)
        return 0
    finally:
        await nc.close()


async def _retire(args: argparse.Namespace, nc: Client, subjects: Subjects) -> int:
    if not args.force:
        try:
            await (await nc.jetstream().key_value(args.bucket)).get(BOT_PREFIX + args.bot)
        except (BucketNotFoundError, KeyNotFoundError):
            print(
                f"tradewire bots retire: the alerts service knows no bot {args.bot!r} "
                "(see `tradewire bots list`); --force retires it anyway",
                file=sys.stderr,
            )
            return 1
    retirement = Retirement(bot=args.bot, by=args.by or getpass.getuser(), comment=args.comment)
    await retire_bot(await open_fleet_bucket(nc, subjects), retirement)
    print(
        f"retired {args.bot} at {_when(retirement.at)}: its alerts resolve and its series leave "
        "/metrics; the store keeps its history; it is live again if it publishes"
    )
    return 0


def _status(state: BotState | None, retired: Retirement | None) -> str:
    if retired is not None and (state is None or state.seen <= retired.at):
        by = f" by {retired.by}" if retired.by else ""
        why = f": {retired.comment}" if retired.comment else ""
        return f"retired {_when(retired.at)}{by}{why}"
    if state is None:
        return "-"
    status = "live" if state.live else "history only (no recent event yet)"
    return status + (f" (back since its retirement {_when(retired.at)})" if retired else "")


def _print(known: dict[str, BotState], retired: dict[str, Retirement], fmt: str) -> None:
    names = sorted(set(known) | set(retired))
    if fmt == "json":
        rows = [
            {
                "bot": b,
                "last_event": known[b].seen if b in known else None,
                "live": known[b].live if b in known else False,
                "retired": msgspec.to_builtins(retired[b]) if b in retired else None,
                "status": _status(known.get(b), retired.get(b)),
            }
            for b in names
        ]
        print(json.dumps(rows, indent=2))
        return
    print(f"BOTS ({len(names)})")
    width = max((len(b) for b in names), default=3)
    for b in names:
        seen = known[b].seen if b in known else None
        print(
            f"  {b:<{width}}  last event {_when(seen):<20}  {_status(known.get(b), retired.get(b))}"
        )
