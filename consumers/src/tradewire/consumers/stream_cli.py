"""``tradewire stream info|set``: the operator's view of the events stream, and its limits."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.api import StreamConfig, StreamInfo

from tradewire.publisher import (
    MAX_PARTITIONS,
    MAX_REPLICAS,
    StreamLimits,
    apply_stream_limits,
    ensure_replicas,
    stream_partitions,
)
from tradewire.schemas import DEFAULT_ROOT, Subjects

from ._nats import configured_url, connect_client
from .alerts import parse_duration

__all__ = ["add_stream_commands", "parse_bytes", "run_stream_command"]

EPILOG = """examples:
  tradewire stream info --nats-url nats://127.0.0.1:4222
  tradewire stream set --max-age 30d --max-bytes 50GiB
  tradewire stream set --max-age 3d --allow-shrink     # deletes events older than 3 days
  tradewire stream set --replicas 3 --nats-url nats://n1:4222,nats://n2:4222,nats://n3:4222
  tradewire stream set --partitions 12   # N instances per service (docs/scaling.md)
only the store (its stream_* settings) and this command change the limits; every other
component creates a missing stream with the defaults and leaves an existing one alone.
--replicas sets the events and alerts streams and the alerts and fleet buckets at once."""

_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_UNITS |= {"ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40}


def parse_bytes(text: str) -> int:
    """``50GiB``, ``10G``, ``500MB``, ``1048576`` -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 50GiB, 500MB, 1048576)")
    return int(float(m.group(1)) * _UNITS[m.group(2) or ""])


def _duration(text: str) -> float:
    """Durations as the rules use them, plus days: ``30d``, ``12h``, ``90s``."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)d\s*", text)
    if m:
        return float(m.group(1)) * 86400
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return seconds


def add_stream_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "stream",
        help="the events stream: state and limits",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stream_sub = p.add_subparsers(dest="stream_command", required=True)
    info = stream_sub.add_parser("info", help="limits, size and consumers of the events stream")
    info.add_argument("--format", choices=["text", "json"], default="text")
    s = stream_sub.add_parser("set", help="change the events stream's limits")
    s.add_argument("--max-age", type=_duration, help="keep events this long, e.g. 30d")
    s.add_argument("--max-bytes", type=parse_bytes, help="keep at most this much, e.g. 50GiB")
    s.add_argument("--duplicate-window", type=_duration, help="dedup window, e.g. 2m")
    s.add_argument(
        "--replicas",
        type=int,
        help=f"copies of each message on a cluster, 1-{MAX_REPLICAS} (3: one node may die)",
    )
    s.add_argument(
        "--partitions",
        type=int,
        help=f"split the events by bot, 2-{MAX_PARTITIONS}; fixed once set (docs/scaling.md)",
    )
    s.add_argument(
        "--allow-shrink",
        action="store_true",
        help="allow lowering max-age or max-bytes, which deletes history at once",
    )
    for q in (info, s):
        q.add_argument("--nats-url", help="NATS server URL (default $TRADEWIRE_NATS_URL)")
        q.add_argument(
            "--root", default=DEFAULT_ROOT, help=f"subject root (default {DEFAULT_ROOT})"
        )


def _limits(config: StreamConfig) -> dict[str, Any]:
    return {
        "max_age_s": config.max_age,
        "max_bytes": config.max_bytes,
        "duplicate_window_s": config.duplicate_window,
        "discard": str(getattr(config.discard, "value", config.discard)),
        "replicas": config.num_replicas,
        "partitions": stream_partitions(config),
    }


def _cluster(info: StreamInfo) -> dict[str, Any] | None:
    """Where the stream's copies are: the leader and whether each other copy is current."""
    c = info.cluster
    if c is None or not c.name:
        return None
    peers = {
        p.name: "current" if p.current else f"behind by {p.lag or 0}" for p in c.replicas or []
    }
    return {"name": c.name, "leader": c.leader, "replicas": peers}


async def _set_replicas(nc: Client, subjects: Subjects, replicas: int) -> list[str]:
    """The alerts stream and the buckets (those that exist) get ``replicas`` too."""
    done = []
    for stream in (
        subjects.alerts_stream,
        f"KV_{subjects.alerts_bucket}",
        f"KV_{subjects.fleet_bucket}",
    ):
        try:
            before, after = await ensure_replicas(nc, stream, replicas)
        except nats.js.errors.NotFoundError:
            continue
        done.append(f"{stream}: replicas {before} -> {after}")
    return done


async def _run(args: argparse.Namespace) -> int:
    url = configured_url(args.nats_url)
    if not url:
        raise ValueError("no NATS URL: pass --nats-url or set TRADEWIRE_NATS_URL")
    subjects = Subjects(args.root)
    nc = await connect_client(url, name="tradewire-stream")
    try:
        js = nc.jetstream()
        if args.stream_command == "set":
            limits = StreamLimits(
                max_age_s=args.max_age,
                max_bytes=args.max_bytes,
                duplicate_window_s=args.duplicate_window,
                replicas=args.replicas,
                partitions=args.partitions,
            )
            before, after = await apply_stream_limits(
                nc, subjects, limits, allow_shrink=args.allow_shrink
            )
            print(f"{subjects.events_stream}: {_limits(before)}\n  -> {_limits(after)}")
            if args.replicas is not None:
                for line in await _set_replicas(nc, subjects, args.replicas):
                    print(line)
            return 0
        info = await js.stream_info(subjects.events_stream)
        consumers = await js.consumers_info(subjects.events_stream)
        body = {
            "stream": subjects.events_stream,
            "subjects": info.config.subjects,
            "messages": info.state.messages,
            "bytes": info.state.bytes,
            "first_seq": info.state.first_seq,
            "last_seq": info.state.last_seq,
            "limits": _limits(info.config),
            "cluster": _cluster(info),
            "consumers": {
                c.name: {"pending": c.num_pending, "ack_pending": c.num_ack_pending}
                for c in consumers
            },
        }
        if args.format == "json":
            print(json.dumps(body, indent=2))
        else:
            for key, value in body.items():
                print(f"{key:<10} {value}")
        return 0
    finally:
        await nc.close()


def run_stream_command(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except nats.js.errors.NotFoundError:
        print(f"tradewire stream: no stream {Subjects(args.root).events_stream}", file=sys.stderr)
        return 1
    except nats.js.errors.APIError as exc:
        print(f"tradewire stream: the server refused: {exc.description}", file=sys.stderr)
        return 2
