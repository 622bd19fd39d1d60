"""``tradewire alerts ...``: check a rules file, silence, unsilence, list."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import getpass
import json
import sys
import time
from pathlib import Path

import msgspec
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from tradewire.publisher import events_replicas
from tradewire.schemas import DEFAULT_ROOT, AlertChange, Subjects

from ._nats import cli_auth, configured_url, connect_client
from .alerts import (
    DEFAULT_RULES,
    RULES_KEY,
    Silence,
    add_silence,
    list_silences,
    load_rules,
    open_bucket,
    parse_duration,
    parse_receivers,
    read_firing,
    remove_silence,
)
from .alerts._backtest import Replay, event_of_row, events_sql, replay_order
from .alerts._inhibit import parse_inhibit_rules
from .alerts._promql import export_prometheus
from .auth import Signer
from .sql_client import add_store_arguments, open_store

__all__ = ["add_alerts_commands", "add_rules_commands", "run_alerts_command", "run_rules_command"]

EPILOG = """examples:
  tradewire alerts check my_rules.yaml
  tradewire alerts silence --rule BotDown --bot bot-7 --for 2h --comment "host reboot (ana)"
  tradewire alerts list
  tradewire alerts unsilence 3f9a0c1b2d4e
  tradewire alerts backtest --rules my_rules.yaml --from 2026-11-01 --to 2026-11-21 \\
      --nats-url nats://127.0.0.1:4222     # through the running store
  tradewire alerts backtest --db copy-of-fleet.duckdb --from 2026-11-20
silence, unsilence and list talk to NATS (--nats-url or $TRADEWIRE_NATS_URL), where the
alerts service keeps its state and silences."""


def add_alerts_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "alerts",
        help="alert rules, silences, firing alerts",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    alerts_sub = p.add_subparsers(dest="alerts", required=True)
    c = alerts_sub.add_parser("check", help="validate a rules file")
    c.add_argument("rules", type=Path)

    s = alerts_sub.add_parser("silence", help="mute notifications for matching alerts")
    s.add_argument("--rule", default="", help="rule name (default: any)")
    s.add_argument("--bot", default="", help="bot id (default: any)")
    s.add_argument(
        "--label", action="append", default=[], metavar="K=V", help="label matcher, repeatable"
    )
    s.add_argument("--for", dest="duration", required=True, help="how long, e.g. 30m, 2h")
    s.add_argument("--comment", required=True, help="why, and who to ask")
    s.add_argument("--by", default="", help="who (default: the current user)")

    u = alerts_sub.add_parser("unsilence", help="end a silence now")
    u.add_argument("id", help="the silence id `alerts silence` printed")

    ls = alerts_sub.add_parser("list", help="firing alerts and silences")
    ls.add_argument("--all", action="store_true", help="include silences that ended")
    ls.add_argument("--format", choices=["text", "json"], default="text")

    b = alerts_sub.add_parser("backtest", help="replay rules over the store's history")
    add_store_arguments(b)
    b.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds the store may spend reading the events (default 300; the running "
        "store caps it at its sql_timeout_s)",
    )
    b.add_argument("--rules", type=Path, default=DEFAULT_RULES, help="rules YAML (default: ours)")
    b.add_argument("--from", dest="start", help="UTC date/time or epoch s (default: --to - 24h)")
    b.add_argument(
        "--to",
        dest="end",
        help="UTC date/time or epoch seconds; a date means its end (default and latest: now)",
    )
    b.add_argument("--bot", action="append", default=[], help="only this bot, repeatable")
    b.add_argument("--step", default="5s", help="clock step for absence/for (default 5s)")
    b.add_argument("--format", choices=["text", "json"], default="text")

    for q in (s, u, ls):
        q.add_argument("--nats-url", help="NATS server URL (default $TRADEWIRE_NATS_URL)")
        q.add_argument(
            "--root", default=DEFAULT_ROOT, help=f"subject root (default {DEFAULT_ROOT})"
        )
        q.add_argument("--bucket", help="the alerts service's bucket (default <root>_alerts)")


RULES_EPILOG = """examples:
  tradewire rules export --prometheus -o tradewire.rules.yml
  tradewire rules export --prometheus --rules my_rules.yaml --metric-prefix gpt_trader
rules with no matching metric are listed as skipped (in the file and on stderr)."""


def add_rules_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "rules",
        help="alert rules in other systems' formats",
        epilog=RULES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rules_sub = p.add_subparsers(dest="rules_command", required=True)
    e = rules_sub.add_parser("export", help="export rules")
    e.add_argument(
        "--prometheus", action="store_true", required=True, help="as Prometheus alerting rules"
    )
    e.add_argument("--rules", type=Path, default=DEFAULT_RULES, help="rules YAML (default: ours)")
    e.add_argument("--metric-prefix", default="tradewire", help="the metrics service's prefix")
    e.add_argument("-o", "--output", type=Path, help="file to write (default stdout)")


def run_rules_command(args: argparse.Namespace) -> int:
    text, skipped = export_prometheus(load_rules(args.rules).rules, args.metric_prefix)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    for name, why in skipped:
        print(f"skipped {name}: {why}", file=sys.stderr)
    return 0


def run_alerts_command(args: argparse.Namespace) -> int:
    if args.alerts == "check":
        rules = load_rules(args.rules)
        parse_receivers(rules.receivers)
        if not rules.rules:
            raise ValueError(f"{args.rules}: no rules (an alerts service would watch nothing)")
        parse_inhibit_rules(rules.inhibit_rules)
        names = ", ".join(r.name for r in rules.rules)
        print(f"{args.rules}: {len(rules.rules)} rule(s) OK: {names}")
        return 0
    if args.alerts == "backtest":
        return asyncio.run(_backtest(args))
    url = configured_url(args.nats_url)
    if not url:
        raise ValueError("no NATS URL: pass --nats-url or set TRADEWIRE_NATS_URL")
    return asyncio.run(_with_nats(args, url))


def _labels(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--label {item!r}: use key=value")
        out[key] = value
    return out


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


async def _known_rules(kv: KeyValue) -> tuple[set[str], str]:
    """The rules the alerts service runs (it keeps their names in its bucket), else ours."""
    try:
        entry = await kv.get(RULES_KEY)
        return set(msgspec.json.decode(entry.value or b"[]", type=list[str])), "the alerts service"
    except KeyNotFoundError:
        return {r.name for r in load_rules(DEFAULT_RULES).rules}, "the default rules"


async def _known_bots(nc: Client, subjects: Subjects) -> set[str] | None:
    """Bots with events in the stream (one entry per subject), None without a stream."""
    try:
        info = await nc.jetstream().stream_info(
            subjects.events_stream, subjects_filter=subjects.events_wildcard
        )
    except NotFoundError:
        return None
    bots = set()
    for subject in info.state.subjects or {}:
        with contextlib.suppress(ValueError):
            bots.add(subjects.parse_event(subject)[0])
    return bots


async def _warn_unknown(nc: Client, kv: KeyValue, silence: Silence, root: str) -> None:
    """A silence for a rule or bot that does not exist matches nothing: say so."""
    if silence.rule:
        rules, source = await _known_rules(kv)
        if silence.rule not in rules:
            print(
                f"warning: no rule {silence.rule!r} in {source}; this silence matches nothing",
                file=sys.stderr,
            )
    if silence.bot:
        subjects = Subjects(root)
        bots = await _known_bots(nc, subjects)
        if bots is None or silence.bot not in bots:
            print(
                f"warning: bot {silence.bot!r} has no events in {subjects.events_stream}; "
                "check the id",
                file=sys.stderr,
            )


async def _with_nats(args: argparse.Namespace, url: str) -> int:
    nc = await connect_client(url, name=f"tradewire-alerts-{args.alerts}")
    bucket = args.bucket or Subjects(args.root).alerts_bucket
    try:
        if args.alerts == "list":  # reads only: a missing bucket is an empty list
            silences = await list_silences(nc, bucket)
            firing = await read_firing(nc, bucket)
            now = time.time()
            if not args.all:
                silences = [s for s in silences if s.ends_at > now]
            _print_list(firing, silences, now, args.format)
            return 0
        kv = await open_bucket(nc, bucket, await events_replicas(nc, Subjects(args.root)))
        if args.alerts == "silence":
            seconds = parse_duration(args.duration)
            if not 0 < seconds <= 90 * 86400:
                raise ValueError("--for: between 1s and 90 days")
            now = time.time()
            silence = Silence(
                rule=args.rule,
                bot=args.bot,
                labels=_labels(args.label),
                starts_at=now,
                ends_at=now + seconds,
                comment=args.comment,
                created_by=args.by or getpass.getuser(),
            )
            signer = Signer.of(cli_auth())
            if signer is not None:  # for the audit log: who set it
                silence.sign(signer)
            await add_silence(kv, silence)
            await _warn_unknown(nc, kv, silence, args.root)
            print(f"{silence.id} (until {_when(silence.ends_at)})")
            return 0
        if not await remove_silence(kv, args.id, Signer.of(cli_auth())):  # unsilence
            print(f"tradewire alerts unsilence: no silence {args.id}", file=sys.stderr)
            return 1
        print(f"{args.id} removed")
        return 0
    finally:
        await nc.close()


def _print_list(firing: list[AlertChange], silences: list[Silence], now: float, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(msgspec.to_builtins({"firing": firing, "silences": silences}), indent=2))
        return
    print(f"FIRING ({len(firing)})")
    for a in sorted(firing, key=lambda a: (a.severity != "critical", a.rule, a.bot)):
        labels = " ".join(f"{k}={v}" for k, v in sorted(a.labels.items()))
        muted = any(s.active(now) and s.matches(a) for s in silences)
        since = _when(a.active_since or a.ts)
        value = f"{a.value:g}" if a.value is not None else "-"
        print(
            f"  {a.severity:<8} {a.rule:<24} {a.bot:<16} {labels:<20} since {since}"
            f"  value {value}{'  [silenced]' if muted else ''}"
        )
    print(f"SILENCES ({len(silences)})")
    for s in silences:
        matchers = " ".join(
            x
            for x in (
                f"rule={s.rule}" if s.rule else "",
                f"bot={s.bot}" if s.bot else "",
                *(f"{k}={v}" for k, v in sorted(s.labels.items())),
            )
            if x
        )
        state = "active" if s.active(now) else ("ended" if s.ends_at <= now else "pending")
        print(
            f"  {s.id}  {state:<7} {matchers:<32} until {_when(s.ends_at)}"
            f"  by {s.created_by}: {s.comment}"
        )


def _time(text: str, name: str, *, end_of_day: bool = False) -> float:
    """Epoch seconds of ``text``; a bare date is its midnight (UTC), or with
    ``end_of_day`` the next one, so ``--from D --to D`` is the whole of day D."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        if end_of_day and len(text) == 10:
            day = dt.date.fromisoformat(text) + dt.timedelta(days=1)
            return dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        msg = f"{name} {text!r}: use 2026-11-20, 2026-11-20T06:00 or epoch seconds"
        raise ValueError(msg) from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


async def _backtest(args: argparse.Namespace) -> int:
    now = time.time()
    # Past now nothing has happened: replaying the clock there would run alerts on.
    end = min(now, _time(args.end, "--to", end_of_day=True)) if args.end else now
    start = _time(args.start, "--from") if args.start else end - 86400
    step = parse_duration(args.step)
    if start >= end:
        raise ValueError("--from must be before --to")
    if not 0.1 <= step <= 3600:
        raise ValueError("--step: between 0.1s and 1h")
    if not args.timeout > 0:
        raise ValueError("--timeout must be > 0")
    rules = load_rules(args.rules).rules
    sql = events_sql(rules, start, end, args.bot)
    replay = Replay(rules, start, end, step)
    if rules:
        url = configured_url(args.nats_url)
        bot = args.bot[0] if len(args.bot) == 1 else None  # then only its store is asked
        async with open_store(
            args.db, url, Subjects(args.root), bot=bot, partial=args.partial
        ) as store:
            # Several stores' rows merge in the query's order: time, kind, seq.
            async for row in store.rows(sql, timeout_s=args.timeout, merge_key=replay_order):
                replay.feed(event_of_row(row))
    result = replay.finish()
    if args.format == "json":
        print(
            json.dumps(
                msgspec.to_builtins(
                    {
                        "from": start,
                        "to": end,
                        "events": result.events,
                        "episodes": [vars(e) for e in result.episodes],
                    }
                ),
                indent=2,
            )
        )
        return 0
    print(
        f"backtest: {len(rules)} rule(s), {_when(start)} .. {_when(end)}, "
        f"{result.events} event(s), {len(result.episodes)} alert(s)"
    )
    for e in result.episodes:
        labels = " ".join(f"{k}={v}" for k, v in sorted(e.labels.items()))
        until = _when(e.resolved_at) if e.resolved_at else "still firing"
        lasted = f"{((e.resolved_at or end) - e.fired_at) / 60:.1f} min"
        peak = f"{e.peak:g}" if e.peak is not None else "-"
        print(
            f"  {_when(e.fired_at)}  {e.severity:<8} {e.rule:<24} {e.bot:<16} {labels:<16}"
            f" until {until} ({lasted}), peak {peak}"
        )
    fired: dict[str, int] = {}
    for e in result.episodes:
        fired[e.rule] = fired.get(e.rule, 0) + 1
    for rule in rules:
        print(f"  {rule.name:<24} fired {fired.get(rule.name, 0)} time(s)")
    return 0
