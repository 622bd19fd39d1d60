"""The ``tradewire`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tradewire.publisher import Publisher, default_outbox_dir, ensure_events_stream
from tradewire.schemas import KINDS, Subjects, json_schema_text

from ._nats import configured_url, nats_url
from .alerts import AlertsService, RuleError, load_alerts_config
from .alerts_cli import (
    add_alerts_commands,
    add_rules_commands,
    run_alerts_command,
    run_rules_command,
)
from .bots_cli import add_bots_commands, run_bots_command
from .demo import run_demo
from .embedded import NatsServerNotFound
from .importers import ImportResult, gpt_trader_events, read_events_db, read_events_jsonl
from .metrics import MetricsService, load_metrics_config
from .report import build_report, render_html, render_json, render_text
from .simulate import FaultRates, Incident, SimulationConfig, print_progress, run_simulation
from .sql_client import format_result, open_runner, query
from .store import ConfigError, QueryError, StoreService, load_store_config
from .tail import tail

__all__ = ["build_parser", "main"]

_EPILOG_SIM = """example:
  tradewire simulate --bots 10 --rate 100 --duration 30 --seed 7
  tradewire simulate --nats-url nats://127.0.0.1:4222 --duration 0   # until Ctrl-C
  tradewire simulate --bots 20 --duration 300 --incident silent:sim-bot-07:60 \
      --incident drawdown:sim-bot-03:60:180   # each incident should page once"""
_EPILOG_TAIL = """example:
  tradewire tail --nats-url nats://127.0.0.1:4222 --bot sim-bot-1 --kind order"""
_EPILOG_SCHEMA = """example:
  tradewire schema export -o tradewire-events.schema.json"""
_EPILOG_DEMO = """example:
  tradewire demo --bots 5 --duration 20"""
_EPILOG_REPORT = """example:
  tradewire report daily --db fleet.duckdb                       # today (UTC), last 24 h
  tradewire report daily --date 2026-11-20 --bot bot-1 --format html --output-dir reports
writes daily_report_<date>.{txt,json,html} (as --format picks) and prints the text"""
_EPILOG_IMPORT = """example:
  tradewire import gpt-trader --events-db runtime_data/prod/events.db --bot gpt-prod \\
      --nats-url nats://127.0.0.1:4222
  tradewire import gpt-trader --events-jsonl events.jsonl --bot gpt-prod --dry-run
re-running it stores nothing twice: ids are derived from the log itself"""
_EPILOG_SERVE = """example:
  tradewire serve store --nats-url nats://127.0.0.1:4222 --db /var/lib/tradewire/fleet.duckdb
  tradewire serve store --config /etc/tradewire/store.toml   # [store] table, same names
settings come from defaults < --config TOML < TRADEWIRE_<NAME> env vars < flags"""
_EPILOG_SQL = """example:
  tradewire sql "SELECT bot, count(*) FROM orders GROUP BY bot" --db fleet.duckdb
  tradewire sql "SELECT * FROM seq_gaps" --format csv --nats-url nats://127.0.0.1:4222
without a running store the file is opened read-only; while the store holds it, the
query goes to the store over NATS. Only SELECT and EXPLAIN are accepted."""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text!r}")
    return value


def _probability(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


def _add_nats(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--nats-url",
        help="NATS server URL (default: $TRADEWIRE_NATS_URL, "
        "else an embedded nats-server is started)",
    )
    p.add_argument("--root", default="tradewire", help="subject root (default: tradewire)")


def _add_fleet(p: argparse.ArgumentParser, duration: float) -> None:
    p.add_argument("--bots", type=int, default=5, help="number of bots (default 5)")
    p.add_argument(
        "--rate", type=_positive_float, default=50.0, help="events per second per bot (default 50)"
    )
    p.add_argument(
        "--duration",
        type=_positive_float,
        default=duration,
        help=f"seconds to run, 0 = until Ctrl-C (default {duration:g})",
    )
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    for name, default in vars(FaultRates()).items():
        p.add_argument(
            f"--{name.replace('_', '-')}-rate",
            dest=f"rate_{name}",
            type=_probability,
            default=default,
            help=f"per-cycle probability (default {default:g})",
        )
    p.add_argument(
        "--incident",
        action="append",
        default=[],
        metavar="KIND:BOT:START[:END]",
        help="inject an incident, repeatable: drawdown, breaker_open or silent on BOT from "
        "START to END s into the run (e.g. silent:sim-bot-3:60)",
    )


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str, epilog: str
) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with its examples, kept as written."""
    return sub.add_parser(
        name, help=text, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def _service(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str, port: int
) -> argparse.ArgumentParser:
    """A `serve` subcommand with the settings every service has."""
    p = sub.add_parser(
        name, help=text, epilog=_EPILOG_SERVE, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", type=Path, help=f"TOML file with a [{name}] table")
    p.add_argument("--nats-url", help="NATS server URL (default $TRADEWIRE_NATS_URL)")
    p.add_argument("--root", help="subject root (default tradewire)")
    p.add_argument("--http-host", help="listen address (default 127.0.0.1)")
    p.add_argument(
        "--http-port", type=int, help=f"port for the HTTP endpoints (default {port}, 0 = any)"
    )
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradewire", description="Telemetry pipeline for fleets of trading bots."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = _command(sub, "simulate", "run a simulated fleet", _EPILOG_SIM)
    _add_nats(p)
    _add_fleet(p, duration=10.0)
    p.add_argument(
        "--outbox-dir",
        type=Path,
        help="root of the bots' outboxes (default: a temporary directory)",
    )

    p = _command(sub, "tail", "show events live", _EPILOG_TAIL)
    _add_nats(p)
    p.add_argument("--bot", default="*", help="only this bot id")
    p.add_argument("--kind", default="*", choices=["*", *KINDS], help="only this kind")
    p.add_argument("--count", type=int, default=0, help="stop after N events")
    p.add_argument("--raw", action="store_true", help="print the JSON as received")

    p = _command(sub, "schema", "event schema tools", _EPILOG_SCHEMA)
    schema_sub = p.add_subparsers(dest="schema_command", required=True)
    e = schema_sub.add_parser("export", help="write the JSON Schema of all events")
    e.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")

    p = _command(sub, "demo", "embedded NATS + store + simulated fleet + live view", _EPILOG_DEMO)
    _add_nats(p)
    _add_fleet(p, duration=20.0)
    p.add_argument(
        "--out-dir",
        type=Path,
        default=Path("tradewire-demo"),
        help="where the DuckDB file is kept (default ./tradewire-demo)",
    )

    p = _command(sub, "serve", "run a consumer service", _EPILOG_SERVE)
    serve_sub = p.add_subparsers(dest="service", required=True)
    s = _service(serve_sub, "store", "JetStream -> DuckDB, exactly once, with SQL", 8201)
    s.add_argument("--db", help="DuckDB file (default tradewire.duckdb)")
    s.add_argument("--max-batch", type=int, help="events per transaction (default 20000)")
    s.add_argument(
        "--max-wait-s", type=_positive_float, help="longest a partial batch waits (default 0.5)"
    )

    a = _service(serve_sub, "alerts", "rules on the stream, notifications", 8203)
    a.add_argument("--rules", help="rules YAML (default: the shipped default rules)")

    add_alerts_commands(sub)
    add_rules_commands(sub)
    add_bots_commands(sub)

    m = _service(serve_sub, "metrics", "fleet events as Prometheus metrics", 8202)
    m.add_argument(
        "--metric-prefix",
        help="metric name prefix (default tradewire; "
        "gpt_trader makes the GPT-Trader playbook's PromQL work)",
    )

    p = _command(sub, "report", "reports from the store", _EPILOG_REPORT)
    report_sub = p.add_subparsers(dest="report", required=True)
    r = report_sub.add_parser(
        "daily",
        help="the fleet's day: PnL, risk, health, pipeline",
        epilog=_EPILOG_REPORT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("--date", help="YYYY-MM-DD, UTC (default today)")
    r.add_argument(
        "--lookback-hours",
        type=_positive_float,
        default=24.0,
        help="window length ending at the end of --date or now (default 24)",
    )
    r.add_argument("--bot", help="only this bot (default: the fleet, a section per bot)")
    r.add_argument(
        "--format",
        choices=["text", "json", "html", "all"],
        default="all",
        help="files to write (default all)",
    )
    r.add_argument(
        "--output-dir",
        type=Path,
        default=Path("reports"),
        help="where to write (default ./reports)",
    )
    r.add_argument("--db", type=Path, default=Path("tradewire.duckdb"))
    r.add_argument("--nats-url", help="reach the running store (default $TRADEWIRE_NATS_URL)")
    r.add_argument("--root", default="tradewire")

    p = _command(sub, "import", "import another bot's event log", _EPILOG_IMPORT)
    import_sub = p.add_subparsers(dest="source", required=True)
    g = import_sub.add_parser(
        "gpt-trader",
        help="GPT-Trader events.db or events.jsonl",
        epilog=_EPILOG_IMPORT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--events-db", type=Path, help="GPT-Trader's SQLite events.db")
    src.add_argument("--events-jsonl", type=Path, help="GPT-Trader's events.jsonl")
    g.add_argument("--bot", required=True, help="the bot id to record the events under")
    g.add_argument("--nats-url", help="NATS server URL (default $TRADEWIRE_NATS_URL)")
    g.add_argument("--root", default="tradewire")
    g.add_argument("--dry-run", action="store_true", help="map and count, publish nothing")
    g.add_argument(
        "--outbox-dir",
        type=Path,
        help="where undelivered events wait (default: the importer's state dir)",
    )

    p = _command(sub, "sql", "read-only SQL against the store", _EPILOG_SQL)
    p.add_argument("query", help="one SELECT or EXPLAIN statement")
    p.add_argument(
        "--db",
        type=Path,
        default=Path("tradewire.duckdb"),
        help="DuckDB file (default tradewire.duckdb)",
    )
    p.add_argument("--nats-url", help="reach the running store (default $TRADEWIRE_NATS_URL)")
    p.add_argument("--root", default="tradewire", help="subject root (default tradewire)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--limit", type=int, default=1000, help="row limit (default 1000)")
    p.add_argument(
        "--timeout",
        type=_positive_float,
        default=30.0,
        help="seconds before the query is interrupted (default 30)",
    )
    return parser


def _sim_config(args: argparse.Namespace) -> SimulationConfig:
    faults = FaultRates(**{n: getattr(args, f"rate_{n}") for n in vars(FaultRates())})
    return SimulationConfig(
        bots=args.bots,
        rate=args.rate,
        duration=args.duration,
        seed=args.seed,
        faults=faults,
        incidents=tuple(Incident.parse(x) for x in args.incident),
    )


async def _simulate(args: argparse.Namespace, subjects: Subjects) -> int:
    import nats  # noqa: PLC0415 - keeps `tradewire --help` fast

    config = _sim_config(args)
    with nats_url(args.nats_url) as url:
        nc = await nats.connect(url, name="tradewire-simulate")
        await ensure_events_stream(nc, subjects)
        await nc.close()
        with tempfile.TemporaryDirectory(prefix="tradewire-outbox-") as tmp:
            root = args.outbox_dir or Path(tmp)
            result = await run_simulation(url, config, root, progress=print_progress)
    print(
        f"emitted {result.emitted:,}  acked {result.acked:,}  in outbox {result.in_outbox:,}"
        f"  dropped {result.dropped:,}  rejected {result.rejected:,}"
    )
    return 0 if result.acked == result.emitted else 1


async def _import(args: argparse.Namespace) -> int:
    path = args.events_db or args.events_jsonl
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    rows = read_events_db(path) if args.events_db else read_events_jsonl(path)
    result = ImportResult()
    events = gpt_trader_events(rows, args.bot, result)
    url = configured_url(args.nats_url)
    if args.dry_run:
        for _ in events:
            pass
        stats = None
    else:
        if not url:
            raise ValueError("no NATS URL: pass --nats-url or set TRADEWIRE_NATS_URL")
        outbox = args.outbox_dir or default_outbox_dir(f"import-{args.bot}")
        async with Publisher(
            args.bot, url=url, root=args.root, outbox_dir=outbox, heartbeat_interval_s=0
        ) as pub:
            for n, event in enumerate(events):
                pub.forward(event)
                if n % 1000 == 999:
                    await asyncio.sleep(0)
            await pub.flush(60)
            stats = pub.stats()
    print(
        f"rows read {result.rows:,}; mapped {sum(result.mapped.values()):,}: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(result.mapped.items()))
    )
    if result.unknown:
        print(
            "not mapped (unknown type): "
            + ", ".join(f"{k} {v:,}" for k, v in result.unknown.most_common())
        )
    if result.invalid:
        print("refused: " + ", ".join(f"{k} {v:,}" for k, v in result.invalid.most_common()))
    if stats is not None:
        print(f"published: acked {stats.acked:,}; left in the outbox {stats.in_outbox:,}")
        return 0 if stats.in_outbox == 0 and stats.buffered == 0 else 1
    return 0


async def _report(args: argparse.Namespace, subjects: Subjects) -> int:
    async with open_runner(args.db, configured_url(args.nats_url), subjects) as run:
        report = await build_report(
            run, date=args.date, lookback_hours=args.lookback_hours, bot=args.bot
        )
    renderers = {"txt": render_text, "json": render_json, "html": render_html}
    wanted = {"text": ["txt"], "json": ["json"], "html": ["html"], "all": list(renderers)}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    for ext in wanted[args.format]:
        path = args.output_dir / f"daily_report_{report.date}.{ext}"
        path.write_text(renderers[ext](report))
        saved.append(str(path))
    sys.stdout.write(render_json(report) if args.format == "json" else render_text(report))
    print("saved: " + ", ".join(saved), file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    names = [
        a
        for a in (
            "nats_url",
            "root",
            "db",
            "http_host",
            "http_port",
            "max_batch",
            "max_wait_s",
            "metric_prefix",
        )
        if hasattr(args, a)
    ]
    flags = {k: getattr(args, k) for k in names}
    if args.service == "alerts":
        alerts = load_alerts_config(args.config, flags)
        _need_url(alerts.nats_url)
        return asyncio.run(AlertsService(alerts).run())
    if args.service == "metrics":
        metrics = load_metrics_config(args.config, flags)
        _need_url(metrics.nats_url)
        return asyncio.run(MetricsService(metrics).run())
    store = load_store_config(args.config, flags)
    _need_url(store.nats_url)
    return asyncio.run(StoreService(store).run())


def _need_url(url: str) -> None:
    if not url:
        raise ConfigError(
            "no NATS URL: pass --nats-url, set TRADEWIRE_NATS_URL, or nats_url in the config file"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "schema":
            text = json_schema_text()
            if args.output:
                args.output.write_text(text)
            else:
                sys.stdout.write(text)
            return 0
        subjects = Subjects(getattr(args, "root", None) or "tradewire")
        if args.command == "simulate":
            return asyncio.run(_simulate(args, subjects))
        if args.command == "tail":
            url = configured_url(args.nats_url)
            if not url:
                print(
                    "tradewire tail: no NATS to watch: pass --nats-url or set TRADEWIRE_NATS_URL",
                    file=sys.stderr,
                )
                return 2
            asyncio.run(
                tail(url, subjects, bot=args.bot, kind=args.kind, count=args.count, raw=args.raw)
            )
            return 0
        if args.command == "serve":
            return _serve(args)
        if args.command == "alerts":
            return run_alerts_command(args)
        if args.command == "rules":
            return run_rules_command(args)
        if args.command == "bots":
            return run_bots_command(args)
        if args.command == "import":
            return asyncio.run(_import(args))
        if args.command == "report":
            return asyncio.run(_report(args, subjects))
        if args.command == "sql":
            result, _ = asyncio.run(
                query(
                    args.query,
                    db=args.db,
                    url=configured_url(args.nats_url),
                    subjects=subjects,
                    limit=args.limit,
                    timeout_s=args.timeout,
                )
            )
            sys.stdout.write(format_result(result, args.format))
            return 0
        with nats_url(args.nats_url) as url:
            return asyncio.run(run_demo(url, _sim_config(args), subjects, args.out_dir))
    except (ValueError, NatsServerNotFound, OSError, QueryError, RuleError) as exc:
        print(f"tradewire {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
