"""The ``tradewire`` command line."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import msgspec

from tradewire.publisher import ensure_events_stream
from tradewire.schemas import DEFAULT_ROOT, KINDS, Subjects, json_schema_text

from ._nats import (
    add_auth_arguments,
    auth_from_args,
    cli_auth,
    configured_url,
    connect_client,
    nats_url,
    use_auth,
)
from .alerts import AlertsConfig, AlertsService, RuleError, load_alerts_config
from .alerts_cli import (
    add_alerts_commands,
    add_rules_commands,
    run_alerts_command,
    run_rules_command,
)
from .auth_cli import add_auth_commands, run_auth_command
from .bots_cli import add_bots_commands, run_bots_command
from .demo import DEMO_ROOT, run_demo
from .embedded import NatsServerNotFound
from .import_cli import (
    add_bridge_commands,
    add_import_commands,
    run_bridge_command,
    run_import_command,
)
from .metrics import MetricsConfig, MetricsService, load_metrics_config
from .report import build_report, render_html, render_json, render_text
from .simulate import (
    ROLE_SUMMARY,
    SCENARIOS,
    FaultRates,
    Incident,
    SimulationConfig,
    print_progress,
    run_simulation,
)
from .sql_client import (
    add_store_arguments,
    format_result,
    open_runner,
    query,
    truncation_note,
)
from .stack_cli import add_stack_commands, run_stack_command
from .store import ConfigError, QueryError, StoreConfig, StoreService, load_store_config
from .stream_cli import add_stream_commands, run_stream_command
from .tail import tail

__all__ = ["build_parser", "main"]

_EPILOG_SIM = """example:
  tradewire simulate --bots 10 --rate 100 --duration 30 --seed 7
  tradewire simulate --scenario incidents --duration 600   # every seed alert fires
  tradewire simulate --nats-url nats://127.0.0.1:4222 --duration 0   # until Ctrl-C
  tradewire simulate --bots 20 --duration 300 --incident silent:sim-bot-07:60 \
      --incident drawdown:sim-bot-03:60:180   # each incident should page once"""
_EPILOG_TAIL = """example:
  tradewire tail --nats-url nats://127.0.0.1:4222 --bot sim-bot-1 --kind order"""
_EPILOG_SCHEMA = """example:
  tradewire schema export -o tradewire-events.schema.json"""
_EPILOG_DEMO = """example:
  tradewire demo                         # until Ctrl-C; open the console URL it prints first
  tradewire demo --bots 20 --duration 120 --scenario incidents --console-port 8280
on Ctrl-C (or after --duration) it checks that every event is in the stream and in DuckDB
exactly once and writes the daily report to <out-dir>/reports."""
_EPILOG_REPORT = """example:
  tradewire report daily --db fleet.duckdb                       # the last 24 h
  tradewire report daily --date 2026-11-20 --nats-url nats://127.0.0.1:4222   # that day (UTC)
  tradewire report daily --date 2026-11-20 --bot bot-1 --format html --output-dir reports
writes daily_report_<date>.{txt,json,html} (daily_report_<date>_<bot>.* with --bot), as
--format picks, and prints the text. Without --db: tradewire.duckdb if no process holds
it, else the running store at --nats-url."""
_SETTINGS_ORDER = """settings come from defaults < --config TOML < TRADEWIRE_<SERVICE>_<NAME>
env vars < flags (TRADEWIRE_NATS_URL and TRADEWIRE_ROOT serve every service)"""
_EPILOG_SERVE = f"""example:
  tradewire serve store --nats-url nats://127.0.0.1:4222 --db /var/lib/tradewire/fleet.duckdb
  tradewire serve metrics --nats-url nats://127.0.0.1:4222
  tradewire serve alerts --nats-url nats://127.0.0.1:4222 --rules my_rules.yaml
{_SETTINGS_ORDER}"""
_EPILOG_SERVICE = {
    "store": """example:
  tradewire serve store --nats-url nats://127.0.0.1:4222 --db /var/lib/tradewire/fleet.duckdb
  tradewire serve store --config /etc/tradewire/store.toml   # [store] table, same names""",
    "metrics": """example:
  tradewire serve metrics --nats-url nats://127.0.0.1:4222 --http-port 8202
  tradewire serve metrics --nats-url nats://127.0.0.1:4222 --metric-prefix gpt_trader
  tradewire serve metrics --config /etc/tradewire/metrics.toml   # [metrics] table""",
    "alerts": """example:
  tradewire serve alerts --nats-url nats://127.0.0.1:4222 --rules /etc/tradewire/rules.yaml
  tradewire serve alerts --config /etc/tradewire/alerts.toml   # [alerts] table""",
}
_EPILOG_SQL = """example:
  tradewire sql "SELECT bot, count(*) FROM orders GROUP BY bot" --db fleet.duckdb
  tradewire sql "SELECT * FROM seq_gaps" --format csv --nats-url nats://127.0.0.1:4222
  tradewire sql "SELECT count(*) FROM events" --db /var/lib/tradewire/stores/  # every file
without a running store the file is opened read-only; while the store holds it, the
query goes to the store over NATS. Several stores' files (--db repeated, or their
directory) are one store; running stores that share the fleet answer fleet-wide SQL
only from their files (docs/scaling.md). Only one plain SELECT (or EXPLAIN of one) is run,
read-only. When rows are left out (--limit, the store's sql_row_limit) a line on stderr
says so and the exit status is 3."""


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
    p.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="calm",
        help="calm (default), or incidents: four bots in trouble (risk limits, a slow and "
        "refusing exchange, a failing market-data feed, a dead bot) cross every seed "
        "alert threshold, the rest stay calm; needs --bots 5 or more",
    )
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
        name,
        help=text,
        epilog=f"{_EPILOG_SERVICE[name]}\n{_SETTINGS_ORDER}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, help=f"TOML file with a [{name}] table")
    p.add_argument("--nats-url", help="NATS server URL (default $TRADEWIRE_NATS_URL)")
    p.add_argument("--root", help="subject root (default tradewire)")
    p.add_argument(
        "--http-host",
        help="listen address (default 127.0.0.1, loopback only; 0.0.0.0 serves every "
        "interface: protect it with --web-config)",
    )
    p.add_argument(
        "--web-config",
        help="exporter-toolkit web.yml: TLS and basic auth (bcrypt) for the HTTP endpoints",
    )
    p.add_argument(
        "--http-port", type=int, help=f"port for the HTTP endpoints (default {port}, 0 = any)"
    )
    p.add_argument(
        "--partition",
        type=int,
        help="this instance's share of the fleet, 0 to --partitions - 1 (docs/scaling.md)",
    )
    p.add_argument(
        "--partitions",
        type=int,
        help=f"instances of the {name} service sharing the fleet by bot (default 1)",
    )
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradewire", description="Telemetry pipeline for fleets of trading bots."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    version = importlib.metadata.version("tradewire")
    parser.add_argument("--version", action="version", version=f"tradewire {version}")
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

    p = _command(
        sub, "demo", "embedded NATS + the services + a simulated fleet + the console", _EPILOG_DEMO
    )
    p.add_argument(
        "--nats-url",
        help="NATS server URL (default: $TRADEWIRE_NATS_URL, "
        "else an embedded nats-server is started)",
    )
    p.add_argument(
        "--root",
        help=f"subject root (default {DEFAULT_ROOT} on the embedded server, "
        f"{DEMO_ROOT} on a configured one, so simulated bots never join a real fleet)",
    )
    _add_fleet(p, duration=0.0)
    p.add_argument(
        "--out-dir",
        type=Path,
        default=Path("tradewire-demo"),
        help="where the DuckDB file and the reports are kept (default ./tradewire-demo)",
    )
    p.add_argument(
        "--console-port",
        type=int,
        default=0,
        help="port of the console and the metrics endpoints (default 0: a free port)",
    )

    p = _command(sub, "serve", "run a consumer service", _EPILOG_SERVE)
    serve_sub = p.add_subparsers(dest="service", required=True)
    s = _service(serve_sub, "store", "JetStream -> DuckDB, exactly once, with SQL", 8201)
    s.add_argument("--db", help="DuckDB file (default tradewire.duckdb)")
    s.add_argument("--max-batch", type=int, help="events per transaction (default 20000)")
    s.add_argument(
        "--max-wait-s", type=_positive_float, help="longest a partial batch waits (default 0.5)"
    )
    s.add_argument(
        "--stream-replicas",
        type=int,
        help="copies of each event on a clustered JetStream, 1-5 (3: one node may die)",
    )
    s.add_argument(
        "--stream-partitions",
        type=int,
        help="split the events stream by bot for several instances, 2-1024; fixed once set",
    )

    a = _service(serve_sub, "alerts", "rules on the stream, notifications", 8203)
    a.add_argument("--rules", help="rules YAML (default: the shipped default rules)")
    a.add_argument(
        "--state-replicas",
        type=int,
        help="copies of each key of the state bucket on a cluster (default: the stream's)",
    )

    add_alerts_commands(sub)
    add_rules_commands(sub)
    add_stream_commands(sub)
    add_stack_commands(sub)
    add_bots_commands(sub)

    m = _service(serve_sub, "metrics", "fleet events as Prometheus metrics", 8202)
    m.add_argument(
        "--profiles",
        help="naming sets to expose at once, comma-separated: tradewire, gpt_trader, "
        "coinbase_trader, traderagent (or bot), all (default tradewire); each seed's "
        "dashboards and rules work against its own (docs/metrics.md)",
    )
    m.add_argument(
        "--metric-prefix",
        help="prefix of the tradewire profile's names (default tradewire)",
    )
    m.add_argument(
        "--reports-dir",
        help="daily reports directory the console at / links to and serves read-only "
        "(where `tradewire report daily --output-dir` writes; default: none)",
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
        "--stale-mark-after",
        action="append",
        default=[],
        metavar="[BOT=]SECONDS",
        help="gap between two marks that counts as a stale mark, for one bot or all "
        "(default: the larger of 30 s and twice the bot's median mark interval)",
    )
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
    add_store_arguments(r)

    add_import_commands(sub)
    add_bridge_commands(sub)
    add_auth_commands(sub)

    p = _command(sub, "sql", "read-only SQL against the store", _EPILOG_SQL)
    p.add_argument("query", help="one SELECT or EXPLAIN statement")
    add_store_arguments(p)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument(
        "--limit",
        type=int,
        default=1000,
        help="most rows to print (default 1000, at most 100000; the running store sends at "
        "most its sql_row_limit, default 10000)",
    )
    p.add_argument(
        "--timeout",
        type=_positive_float,
        default=30.0,
        help="seconds before the query is interrupted, here or in the store (default 30; "
        "the store caps it at its sql_timeout_s)",
    )
    _add_auth_everywhere(parser)
    return parser


def _add_auth_everywhere(parser: argparse.ArgumentParser) -> None:
    """Every command that reaches NATS (it has --nats-url) takes the credential options."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                _add_auth_everywhere(child)
    if any(a.dest == "nats_url" for a in parser._actions):
        add_auth_arguments(parser)


def _sim_config(args: argparse.Namespace, subjects: Subjects) -> SimulationConfig:
    faults = FaultRates(**{n: getattr(args, f"rate_{n}") for n in vars(FaultRates())})
    return SimulationConfig(
        bots=args.bots,
        rate=args.rate,
        duration=args.duration,
        seed=args.seed,
        faults=faults,
        root=subjects.root,
        scenario=args.scenario,
        incidents=tuple(Incident.parse(x) for x in args.incident),
    )


async def _simulate(args: argparse.Namespace, subjects: Subjects) -> int:

    config = _sim_config(args, subjects)
    for bot, role in config.roles().items():
        print(f"{bot}: {role} incident ({ROLE_SUMMARY[role]})", file=sys.stderr)
    with nats_url(args.nats_url) as url:
        nc = await connect_client(url, name="tradewire-simulate")
        await ensure_events_stream(nc, subjects)
        await nc.close()
        with tempfile.TemporaryDirectory(prefix="tradewire-outbox-") as tmp:
            root = args.outbox_dir or Path(tmp)
            result = await run_simulation(
                url, config, root, progress=print_progress, auth=cli_auth()
            )
    print(
        f"emitted {result.emitted:,}  acked {result.acked:,}  in outbox {result.in_outbox:,}"
        f"  dropped {result.dropped:,}  rejected {result.rejected:,}"
    )
    return 0 if result.acked == result.emitted else 1


async def _report(args: argparse.Namespace, subjects: Subjects) -> int:
    url = configured_url(args.nats_url)
    try:
        async with open_runner(args.db, url, subjects, bot=args.bot, partial=args.partial) as run:
            report = await build_report(
                run,
                date=args.date,
                lookback_hours=args.lookback_hours,
                bot=args.bot,
                stale_mark_after_s=_per_bot_seconds(args.stale_mark_after),
            )
    except QueryError as exc:  # the first query reads `events`: DuckDB's 5-line answer
        if "Table with name events does not exist" not in str(exc):
            raise
        where = ", ".join(map(str, args.db)) if args.db else "the store"
        raise QueryError(f"{where}: not a tradewire store (it has no events table)") from None
    renderers = {"txt": render_text, "json": render_json, "html": render_html}
    wanted = {"text": ["txt"], "json": ["json"], "html": ["html"], "all": list(renderers)}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    name = f"daily_report_{report.date}" + (f"_{report.bot}" if report.bot else "")
    for ext in wanted[args.format]:
        path = args.output_dir / f"{name}.{ext}"
        path.write_text(renderers[ext](report))
        saved.append(str(path))
    sys.stdout.write(render_json(report) if args.format == "json" else render_text(report))
    print("saved: " + ", ".join(saved), file=sys.stderr)
    return 0


def _per_bot_seconds(items: list[str]) -> dict[str, float]:
    """``60`` (every bot) or ``gpt-prod=90`` -> {"*": 60.0, "gpt-prod": 90.0}."""
    out = {}
    for item in items:
        bot, sep, seconds = item.rpartition("=")
        try:
            out[bot if sep else "*"] = float(seconds)
        except ValueError:
            raise ValueError(f"--stale-mark-after wants [BOT=]SECONDS, got {item!r}") from None
    return out


def _flags(args: argparse.Namespace, config_type: type[msgspec.Struct]) -> dict[str, object]:
    """The command-line values of ``config_type``'s settings. Each option of a serve
    subcommand is named exactly like the setting it sets, so none is left behind."""
    return {k: v for k, v in vars(args).items() if k in config_type.__struct_fields__}


def _serve(args: argparse.Namespace) -> int:
    service: StoreService | MetricsService | AlertsService
    if args.service == "store":
        service = StoreService(load_store_config(args.config, _flags(args, StoreConfig)))
    elif args.service == "metrics":
        service = MetricsService(load_metrics_config(args.config, _flags(args, MetricsConfig)))
    else:
        service = AlertsService(load_alerts_config(args.config, _flags(args, AlertsConfig)))
    _need_url(service.config.nats_url)
    return asyncio.run(service.run())


def _need_url(url: str) -> None:
    if not url:
        raise ConfigError(
            "no NATS URL: pass --nats-url, set TRADEWIRE_NATS_URL, or nats_url in the config file"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a reader that goes away (``| head``) ends it quietly."""
    try:
        try:
            code = _main(argv)
        finally:  # --help and --version exit through here too
            sys.stdout.flush()
    except BrokenPipeError:
        # Whatever is still buffered would fail again at exit: send it nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as if killed by SIGPIPE, like other tools in a pipe
    return code


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        use_auth(auth_from_args(args))
        return _run(args)
    finally:
        use_auth(None)


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        # A service says where it listens, when it connects, consumes and stops.
        level=logging.DEBUG
        if args.verbose
        else logging.INFO
        if args.command == "serve"
        else logging.WARNING,
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
        if args.command == "stream":
            return run_stream_command(args)
        if args.command == "stack":
            return run_stack_command(args)
        if args.command == "bots":
            return run_bots_command(args)
        if args.command == "import":
            return run_import_command(args)
        if args.command == "bridge":
            return run_bridge_command(args)
        if args.command == "auth":
            return run_auth_command(args)
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
                    partial=args.partial,
                )
            )
            sys.stdout.write(format_result(result, args.format))
            sys.stdout.flush()
            note = truncation_note(result, args.limit)
            if note:
                print(f"tradewire sql: {note}", file=sys.stderr)
            return 3 if note else 0
        if not args.root:
            subjects = Subjects(DEMO_ROOT if configured_url(args.nats_url) else DEFAULT_ROOT)
        if not 0 <= args.console_port <= 65535:
            raise ValueError(f"--console-port {args.console_port}: between 0 and 65535")
        with nats_url(args.nats_url, say=False) as url:
            note = "" if configured_url(args.nats_url) else "embedded nats-server"
            return asyncio.run(
                run_demo(
                    url,
                    _sim_config(args, subjects),
                    subjects,
                    args.out_dir,
                    console_port=args.console_port,
                    nats_note=note,
                )
            )
    except (ValueError, NatsServerNotFound, OSError, QueryError, RuleError) as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        print(f"tradewire {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
