"""``tradewire import gpt-trader`` and ``tradewire bridge traderagent``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from tradewire.publisher import Publisher, default_outbox_dir
from tradewire.schemas import DEFAULT_ROOT

from ._nats import cli_auth, configured_url, connect_client
from .bridge import LOSS_KINDS, run_traderagent_bridge
from .fleet import check_bot_id
from .importers import GptTraderImport, ImportResult, SourceRow, read_events_db, read_events_jsonl
from .importers._follow import follow_events_db
from .importers._source import count_db_rows, db_has_type

__all__ = [
    "add_bridge_commands",
    "add_import_commands",
    "print_import_table",
    "run_bridge_command",
    "run_import_command",
]

EPILOG_IMPORT = """examples:
  tradewire import gpt-trader --events-db runtime_data/prod/events.db --bot gpt-prod \\
      --nats-url nats://127.0.0.1:4222
  tradewire import gpt-trader --events-jsonl events.jsonl --bot gpt-prod --dry-run
  tradewire import gpt-trader --events-db runtime_data/prod/events.db --bot gpt-prod --follow
re-running it stores nothing twice: ids come from the rows themselves. --follow keeps
forwarding new rows; its watermark (default: next to the outbox) makes restarts exact."""
EPILOG_BRIDGE = """examples:
  tradewire bridge traderagent --redis-url redis://127.0.0.1:6379 \\
      --nats-url nats://127.0.0.1:4222 --symbol grid-btc=BTC/USDT
subscribes to trading_events:* and publishes each bot's events under its name (characters
outside [A-Za-z0-9_-] become -). Redis pub/sub keeps nothing for an absent subscriber:
what the bridge can tell it missed is counted (metric bridge_detected_loss)."""


def add_import_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "import",
        help="import another bot's event log",
        epilog=EPILOG_IMPORT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    import_sub = p.add_subparsers(dest="source", required=True)
    g = import_sub.add_parser(
        "gpt-trader",
        help="GPT-Trader events.db (once or --follow) or a JSONL log",
        epilog=EPILOG_IMPORT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--events-db", type=Path, help="GPT-Trader's SQLite events.db")
    src.add_argument("--events-jsonl", type=Path, help="a GPT-Trader JSONL log (any of its shapes)")
    g.add_argument("--bot", required=True, help="the bot id to record the events under")
    g.add_argument("--nats-url", help="NATS server URL (default $TRADEWIRE_NATS_URL)")
    g.add_argument("--root", default=DEFAULT_ROOT)
    g.add_argument("--dry-run", action="store_true", help="map and count, publish nothing")
    g.add_argument("--follow", action="store_true", help="keep forwarding new rows (--events-db)")
    g.add_argument(
        "--poll-interval", type=float, default=1.0, help="--follow: seconds between looks (1)"
    )
    g.add_argument("--state-file", type=Path, help="--follow: the watermark file")
    g.add_argument(
        "--outbox-dir",
        type=Path,
        help="where undelivered events wait (default: the importer's state dir)",
    )
    g.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress line on stderr (default: when stderr is a terminal)",
    )


def add_bridge_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bridge",
        help="forward another bot system's live events",
        epilog=EPILOG_BRIDGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bridge_sub = p.add_subparsers(dest="system", required=True)
    t = bridge_sub.add_parser(
        "traderagent",
        help="TRADERAGENT's Redis pub/sub TradingEvents",
        epilog=EPILOG_BRIDGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--redis-url", required=True, help="e.g. redis://127.0.0.1:6379/0")
    t.add_argument("--nats-url", help="NATS server URL (default $TRADEWIRE_NATS_URL)")
    t.add_argument("--root", default=DEFAULT_ROOT)
    t.add_argument(
        "--symbol",
        action="append",
        default=[],
        metavar="BOT=SYMBOL",
        help="the symbol a bot trades (its events do not say); repeatable",
    )
    t.add_argument("--outbox-root", type=Path, help="outboxes, one directory per bot")


# -- import -------------------------------------------------------------------


class _Progress:
    """A progress line on stderr, redrawn at most every half second."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self.start = self.last = time.monotonic()

    def update(self, done: int, events: int, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.last < 0.5):
            return
        self.last = now
        frac = done / self.total if self.total else 1.0
        bar = "#" * int(frac * 30)
        rate = done / max(now - self.start, 1e-9)
        print(
            f"\r[{bar:<30}] {frac:6.1%} rows {done:,}/{self.total:,}  events {events:,}"
            f"  {rate:,.0f} rows/s",
            end="\n" if force else "",
            file=sys.stderr,
            flush=True,
        )


def _jsonl_scan(path: Path) -> tuple[int, bool]:
    """(lines, whether the log holds the report's `fill` rows): one cheap pass."""
    lines, fills = 0, False
    with open(path, "rb") as f:
        for raw in f:
            lines += 1
            if not fills and b'"fill"' in raw:
                with contextlib.suppress(ValueError):
                    obj = json.loads(raw)
                    fills = (
                        isinstance(obj, dict)
                        and (obj.get("type") or obj.get("event_type")) == "fill"
                    )
    return lines, fills


def print_import_table(result: ImportResult) -> None:
    """By source type: rows seen, rows mapped, events, and why the rest was skipped."""
    rows = sorted(result.by_type.items(), key=lambda kv: (-kv[1].seen, kv[0]))
    width = max([len("source type"), *(len(k) for k, _ in rows)])
    print(f"{'source type':<{width}}  {'seen':>7}  {'mapped':>7}  {'events':>7}  skipped (why)")
    for name, c in rows:
        why = "; ".join(f"{n:,} {reason}" for reason, n in c.skipped.most_common())
        print(f"{name:<{width}}  {c.seen:>7,}  {c.mapped:>7,}  {c.events:>7,}  {why}")
    total_seen = sum(c.seen for _, c in rows)
    total_mapped = sum(c.mapped for _, c in rows)
    total_events = sum(c.events for _, c in rows)
    print(f"{'total':<{width}}  {total_seen:>7,}  {total_mapped:>7,}  {total_events:>7,}")
    print("events by kind: " + ", ".join(f"{k} {v:,}" for k, v in sorted(result.events.items())))
    notes = []
    if result.inferred_ts:
        notes.append(f"{result.inferred_ts:,} line(s) without a time took the time before them")
    if result.legacy_ids:
        notes.append(f"{result.legacy_ids:,} event(s) keep the first importer's ids")
    if notes:
        print("; ".join(notes))


def _rows(args: argparse.Namespace) -> tuple[Iterator[SourceRow], int, bool]:
    path: Path = args.events_db or args.events_jsonl
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    if args.events_db:
        try:
            total, fills = count_db_rows(path), db_has_type(path, "fill")
        except Exception as exc:  # sqlite3.Error: not a database, no events table
            raise ValueError(f"{path}: not a GPT-Trader events.db ({exc})") from None
        return read_events_db(path), total, fills
    total, fills = _jsonl_scan(path)
    return read_events_jsonl(path), total, fills


async def _import(args: argparse.Namespace) -> int:
    check_bot_id(args.bot)  # once, not once per row
    if args.follow:
        if not args.events_db:
            raise ValueError("--follow needs --events-db (a JSONL log is imported once)")
        return await _follow(args)
    rows, total, fills = _rows(args)
    importer = GptTraderImport(args.bot, "db" if args.events_db else "jsonl")
    importer.state.fills_from_fill_rows = fills
    progress = _Progress(total, sys.stderr.isatty() if args.progress is None else args.progress)
    url = configured_url(args.nats_url)
    stats = None
    if args.dry_run:
        for n, row in enumerate(rows, start=1):
            importer.row_events(row)
            if n % 1000 == 0:
                progress.update(n, sum(importer.result.events.values()))
    else:
        if not url:
            raise ValueError("no NATS URL: pass --nats-url or set TRADEWIRE_NATS_URL")
        # A one-shot import says at once when NATS is unreachable, instead of filling the
        # outbox and reporting it at the end (--follow and the bridge ride outages out).
        await (await connect_client(url, name="tradewire-import")).close()
        async with _publisher(args, url) as pub:
            for n, row in enumerate(rows, start=1):
                for event in importer.row_events(row):
                    pub.forward(event)
                if n % 1000 == 0:
                    progress.update(n, pub.stats().emitted)
                    await asyncio.sleep(0)
            await pub.flush(60)
            stats = pub.stats()
    progress.update(importer.result.rows, sum(importer.result.events.values()), force=True)
    print_import_table(importer.result)
    if stats is not None:
        print(f"published: acked {stats.acked:,}; left in the outbox {stats.in_outbox:,}")
        return 0 if stats.in_outbox == 0 and stats.buffered == 0 else 1
    return 0


@contextlib.asynccontextmanager
async def _publisher(args: argparse.Namespace, url: str) -> AsyncIterator[Publisher]:
    outbox = args.outbox_dir or default_outbox_dir(f"import-{args.bot}")
    pub = Publisher(
        args.bot,
        url=url,
        root=args.root,
        outbox_dir=outbox,
        heartbeat_interval_s=0,  # the log has the bot's own heartbeats
        lifecycle_events=False,  # and its own starts (runtime_start)
        auth=cli_auth(),
    )
    await pub.start()
    try:
        yield pub
    finally:
        await pub.close(10)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def _follow(args: argparse.Namespace) -> int:
    url = configured_url(args.nats_url)
    if not url:
        raise ValueError("no NATS URL: pass --nats-url or set TRADEWIRE_NATS_URL")
    if not args.events_db.is_file():
        raise ValueError(f"{args.events_db} is not a file")
    outbox = args.outbox_dir or default_outbox_dir(f"import-{args.bot}")
    args.outbox_dir = outbox
    state_file = args.state_file or outbox.with_name(outbox.name + ".follow.json")
    stop = asyncio.Event()
    _stop_on_signals(stop)
    progress = _Progress(0, sys.stderr.isatty() if args.progress is None else args.progress)

    def on_batch(importer: GptTraderImport, watermark: int) -> None:
        progress.total = watermark
        progress.update(importer.result.rows, sum(importer.result.events.values()))

    async with _publisher(args, url) as pub:
        print(
            f"following {args.events_db} as {args.bot}; watermark in {state_file}", file=sys.stderr
        )
        importer = await follow_events_db(
            args.events_db, pub, state_file, stop=stop, poll_s=args.poll_interval, on_batch=on_batch
        )
    print_import_table(importer.result)
    return 0


# -- bridge -------------------------------------------------------------------


def _symbols(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        bot, sep, symbol = pair.partition("=")
        if not sep or not bot or not symbol:
            raise ValueError(f"--symbol wants BOT=SYMBOL, got {pair!r}")
        out[bot] = symbol
    return out


async def _bridge(args: argparse.Namespace) -> int:
    url = configured_url(args.nats_url)
    if not url:
        raise ValueError("no NATS URL: pass --nats-url or set TRADEWIRE_NATS_URL")
    stop = asyncio.Event()
    _stop_on_signals(stop)
    stats = await run_traderagent_bridge(
        args.redis_url,
        url,
        stop=stop,
        root=args.root,
        outbox_root=args.outbox_root,
        symbols=_symbols(args.symbol),
        on_subscribed=lambda s: print("subscribed to trading_events:*", file=sys.stderr),
        auth=cli_auth(),
    )
    print(
        f"messages {stats.messages:,}; events {stats.events:,}; undecodable {stats.undecodable:,};"
        f" redis reconnects {stats.reconnects:,} ({stats.away_s:.1f} s away)"
    )
    for bot, view in sorted(stats.losses.items()):
        for what, n in sorted(view.items()):
            print(f"detected loss: {bot} {what} {n:,} ({LOSS_KINDS[what]})")
    return 0


def run_import_command(args: argparse.Namespace) -> int:
    return asyncio.run(_import(args))


def run_bridge_command(args: argparse.Namespace) -> int:
    return asyncio.run(_bridge(args))
