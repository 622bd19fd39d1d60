"""The whole pipeline on one box: the highest rate at which store, metrics and alerts all
keep up, tradewire's services vs the same pipeline on nats-py's stock API.

usage: uv run python benchmarks/whole_box.py [--bots 1000] [--step-s 30] [--start 10000]
                                             [--step 10000] [--max-minutes 5] [--quick]

For each pipeline in turn (its own nats-server and files), every piece is its own
process: nats-server, the three consumers, and a load generator (``_fleet_load.py``:
1,000 simulated bots on one connection) started anew for each step at a fixed rate.
tradewire: ``tradewire serve store|metrics|alerts`` with default settings and the
shipped rules, the load sent the way ``Publisher`` sends. stock: ``_stock_pipeline.py``
(``pull_subscribe().fetch``, prometheus_client, Arrow inserts through the product's
writer, the product's rule engine) and ``js.publish_async``. ``/metrics`` of the metrics
consumer is scraped every ``--scrape-s`` (15 s), as Prometheus would.

A step at rate R runs ``--step-s`` seconds; every 2 s each consumer's lag (pending +
delivered but not acked, from JetStream), RSS and CPU are sampled. It passes when the
load generator got >= 98 % of R acked, and for each consumer, after ``--warmup-s``, the
lag's least-squares slope is <= 2 % of R per second (not growing), its largest value
<= 5 s of R (bounded), and it is back to 0 within ``--drain-s`` after the step (after
a failed step, up to 3 times that more before the next one). Rates step up by
``--step`` from ``--start`` until a step fails; then the bracket between the highest
rate that kept up and the lowest that did not is halved until it is at most
``--resolution`` wide (while nothing kept up, the rate halves). Bounded: each pipeline
gets half of ``--max-minutes`` and starts no step that would not end in it; every
process it started is stopped by its PID (SIGTERM, then SIGKILL after 10 s).
``--quick`` (about a minute): 10 s steps, no halving; a smoke test, not a measurement.
Also printed: each consumer's events consumed per CPU-second it used, tradewire vs stock,
which the CPU share other work on the box leaves each process bends much less than rates.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nats
from nats.js.errors import NotFoundError

sys.path.insert(0, str(Path(__file__).parent))
from _common import table

from tradewire.consumers.embedded import EmbeddedNats
from tradewire.schemas import Subjects

SUBJECTS = Subjects()
HERE = Path(__file__).parent
SAMPLE_S = 2.0
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


@dataclass
class Service:
    """A consumer process, its durable consumer, and what was seen of it."""

    name: str
    durable: str
    proc: subprocess.Popen[bytes]
    metrics_url: str = ""
    max_rss: float = 0.0


@dataclass
class Step:
    rate: int
    acked_rate: float = 0.0
    passed: bool = False
    why: list[str] = field(default_factory=list)
    lag: dict[str, tuple[int, float]] = field(default_factory=dict)  # max lag, slope/s
    cpu: dict[str, float] = field(default_factory=dict)  # cores
    rss: dict[str, float] = field(default_factory=dict)  # MB, at the end
    # Events each consumer took off its lag per CPU-second it used: less bent by other
    # work on the box than rates are, which depend on the CPU share each process got.
    per_cpu_s: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """One pipeline's processes on its own nats-server."""

    def __init__(self, kind: str, server: EmbeddedNats, tmp: Path, bots: int, logs: Path) -> None:
        self.kind, self.server, self.tmp, self.bots = kind, server, tmp, bots
        self.log_dir = logs
        self.services: list[Service] = []
        self.logs: list[object] = []

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{self.kind}-{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.logs.append(log)
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    def start(self) -> None:
        url, py = self.server.url, sys.executable
        for name in ("store", "metrics", "alerts"):
            port = free_port()
            if self.kind == "tradewire":
                args = [py, "-m", "tradewire.consumers.cli", "serve", name, "--nats-url", url]
                args += ["--http-port", str(port)]
                if name == "store":
                    args += ["--db", str(self.tmp / "tradewire.duckdb")]
                durable = SUBJECTS.durable(name)
            else:
                args = [py, str(HERE / "_stock_pipeline.py"), name, url, "--port", str(port)]
                args += ["--db", str(self.tmp / "stock.duckdb")]
                durable = f"stock-{name}"
            proc = self.spawn(name, args)
            url_m = f"http://127.0.0.1:{port}/metrics" if name == "metrics" else ""
            self.services.append(Service(name, durable, proc, url_m))

    async def lags(self, js: nats.js.JetStreamContext) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for s in self.services:
            try:
                info = await js.consumer_info(SUBJECTS.events_stream, s.durable)
            except (TimeoutError, NotFoundError, nats.errors.Error):
                out[s.name] = None
                continue
            out[s.name] = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
        return out

    async def ready(self, js: nats.js.JetStreamContext, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while None in (await self.lags(js)).values():
            for s in self.services:
                if s.proc.poll() is not None:
                    raise RuntimeError(f"{self.kind} {s.name} exited: see {self.log_dir}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.kind}: consumers not up after {timeout:g} s")
            await asyncio.sleep(0.5)

    def stop(self) -> None:
        procs = [s.proc for s in self.services]
        for p in procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 10
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs:
            log.close()  # type: ignore[attr-defined]


def next_rate(passed: int, failed: int, args: argparse.Namespace) -> int | None:
    """Up by ``--step`` until a step fails, then halve the bracket down to
    ``--resolution``; None when done."""
    if not failed:
        up = passed + args.step
        return up if up <= args.max_rate else None
    if failed - passed <= args.resolution:
        return None
    if not passed:
        return failed // 2 if failed >= 1000 else None
    return (passed + failed) // 2 // 500 * 500


def slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of lag over time (per second)."""
    if len(points) < 3:
        return 0.0
    ts = [t for t, _ in points]
    mt, ml = statistics.fmean(ts), statistics.fmean(v for _, v in points)
    den = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (v - ml) for t, v in points) / den if den else 0.0


async def scrape(urls: list[str], every: float, stop: asyncio.Event) -> None:
    """Prometheus' share of the metrics consumer's work: a full scrape every ``every`` s."""

    def get(url: str) -> None:
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                r.read()
        except OSError:
            pass

    while not stop.is_set():
        for url in urls:
            await asyncio.to_thread(get, url)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def drained(pipe: Pipeline, js: nats.js.JetStreamContext, seconds: float) -> bool:
    """Wait up to ``seconds`` for every consumer's lag to be 0."""
    deadline = time.monotonic() + seconds
    while True:
        if all(v == 0 for v in (await pipe.lags(js)).values()):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.5)


async def run_step(
    pipe: Pipeline, js: nats.js.JetStreamContext, rate: int, args: argparse.Namespace
) -> Step:
    step = Step(rate)
    gen = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "_fleet_load.py"),
            pipe.server.url,
            "--bots",
            str(pipe.bots),
            "--rate",
            str(rate),
            "--seconds",
            str(args.step_s),
            "--mode",
            pipe.kind,
        ],
        stdout=subprocess.PIPE,
    )
    assert pipe.server.proc is not None
    procs = {s.name: s.proc.pid for s in pipe.services} | {"nats-server": pipe.server.proc.pid}
    before = await pipe.lags(js)
    cpu0 = {k: cpu_s(pid) for k, pid in procs.items()}
    t0 = time.monotonic()
    points: dict[str, list[tuple[float, int]]] = {s.name: [] for s in pipe.services}
    while gen.poll() is None:
        await asyncio.sleep(SAMPLE_S)
        now = time.monotonic() - t0
        for name, lag in (await pipe.lags(js)).items():
            if lag is not None:
                points[name].append((now, lag))
        for s in pipe.services:
            s.max_rss = max(s.max_rss, rss_mb(s.proc.pid))
    elapsed = time.monotonic() - t0
    used = {k: cpu_s(pid) - cpu0[k] for k, pid in procs.items()}
    after = await pipe.lags(js)
    step.cpu = {k: v / elapsed for k, v in used.items()}
    out, _ = gen.communicate()
    result = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
    for name, lag in after.items():
        # consumed = what arrived (acked) + the lag it started with - the lag it ended with
        if lag is not None and before.get(name) is not None and used[name] > 0:
            consumed = int(result.get("acked", 0)) + (before[name] or 0) - lag
            step.per_cpu_s[name] = consumed / used[name]
    step.acked_rate = float(result.get("acked_rate", 0.0))
    step.cpu["load"] = float(result.get("cpu_s", 0.0)) / elapsed
    step.rss = {s.name: rss_mb(s.proc.pid) for s in pipe.services}
    if step.acked_rate < 0.98 * rate:
        step.why.append(f"load: {step.acked_rate:,.0f}/s acked")
    for name, pts in points.items():
        late = [(t, v) for t, v in pts if t >= args.warmup_s]
        worst, grow = max((v for _, v in late), default=0), slope(late)
        step.lag[name] = (worst, grow)
        if grow > 0.02 * rate:
            step.why.append(f"{name}: lag grows {grow:,.0f}/s")
        if worst > 5 * rate:
            step.why.append(f"{name}: lag {worst:,}")
    # A consumer that keeps up drains what it holds within seconds.
    if not await drained(pipe, js, args.drain_s):
        left = {k: v for k, v in (await pipe.lags(js)).items() if v}
        step.why.append(f"not drained after {args.drain_s:g} s: {left}")
        # The next step starts from an empty backlog, or as near as the time allows.
        await drained(pipe, js, 3 * args.drain_s)
    for s in pipe.services:
        if s.proc.poll() is not None:
            step.why.append(f"{s.name} exited")
    step.passed = not step.why
    return step


async def run_pipeline(
    kind: str, args: argparse.Namespace, deadline: float
) -> tuple[list[Step], dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix=f"whole-box-{kind}-") as tmp, EmbeddedNats() as server:
        pipe = Pipeline(kind, server, Path(tmp), args.bots, args.log_dir or Path(tmp))
        steps: list[Step] = []
        stop = asyncio.Event()
        try:
            pipe.start()
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            await pipe.ready(js)
            urls = [s.metrics_url for s in pipe.services if s.metrics_url]
            scraper = asyncio.create_task(scrape(urls, args.scrape_s, stop))
            rate: int | None = args.start
            passed, failed = 0, 0  # the highest rate that kept up, the lowest that did not
            while rate and time.monotonic() + args.step_s + args.drain_s < deadline:
                step = await run_step(pipe, js, rate, args)
                steps.append(step)
                verdict = "keeps up" if step.passed else "; ".join(step.why)
                print(f"{kind} {rate:,}/s: {verdict}", file=sys.stderr, flush=True)
                if step.passed:
                    passed = rate
                else:
                    failed = rate
                rate = next_rate(passed, failed, args)
            stop.set()
            await scraper
            await nc.close()
            rss = {s.name: s.max_rss for s in pipe.services}
        finally:
            pipe.stop()
        return steps, rss


def report(
    results: dict[str, tuple[list[Step], dict[str, float]]], args: argparse.Namespace
) -> None:
    best = {
        k: max((s.rate for s in steps if s.passed), default=0) for k, (steps, _) in results.items()
    }
    for kind, (steps, rss) in results.items():
        print(f"\n{kind} pipeline, {args.bots:,} bots, {args.step_s:g} s per step:")
        rows = []
        for s in steps:
            lag = ", ".join(f"{n} {m:,}/{g:+,.0f}" for n, (m, g) in s.lag.items())
            cpu = " ".join(f"{n} {c:.2f}" for n, c in s.cpu.items())
            rows.append(
                (f"{s.rate:,}", f"{s.acked_rate:,.0f}", "yes" if s.passed else "no", lag, cpu)
            )
        print(
            table(
                rows,
                ("target/s", "acked/s", "keeps up", "max lag / slope per s", "CPU cores"),
            )
        )
        print("largest RSS: " + ", ".join(f"{n} {v:,.0f} MB" for n, v in rss.items()))
    # Per consumer, the median over its steps of events consumed per CPU-second.
    eff = {
        kind: {
            name: statistics.median(vals)
            for name in ("store", "metrics", "alerts")
            if (vals := [s.per_cpu_s[name] for s in steps if name in s.per_cpu_s])
        }
        for kind, (steps, _) in results.items()
    }
    if len(eff) == 2:
        tw_eff, st_eff = eff.get("tradewire", {}), eff.get("stock", {})
        eff_rows = [
            (name, f"{tw_eff[name]:,.0f}", f"{v:,.0f}", f"{tw_eff[name] / v:.2f}x")
            for name, v in st_eff.items()
            if name in tw_eff and v > 0
        ]
        print("\nevents consumed per CPU-second (median over the steps):")
        print(table(eff_rows, ("consumer", "tradewire", "stock", "tradewire vs stock")))
    print("\nhighest sustained: " + ", ".join(f"{k} {v:,}/s" for k, v in best.items()), end="")
    tw, st = best.get("tradewire", 0), best.get("stock", 0)
    print(f", {tw / st:.2f}x" if tw and st else "")


async def main_async(args: argparse.Namespace) -> None:
    deadline = time.monotonic() + args.max_minutes * 60
    kinds = ["tradewire", "stock"] if not args.stock_first else ["stock", "tradewire"]
    kinds = [k for k in kinds if k in args.only] if args.only else kinds
    print(
        f"{time.strftime('%Y-%m-%d')} {platform.machine()} {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        file=sys.stderr,
    )
    results = {}
    for i, kind in enumerate(kinds):
        # Each pipeline gets its share of what time is left.
        share = (deadline - time.monotonic()) / (len(kinds) - i)
        results[kind] = await run_pipeline(kind, args, time.monotonic() + share)
    report(results, args)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--bots", type=int, default=1000)
    ap.add_argument("--step-s", type=float, default=30.0, help="seconds at each rate")
    ap.add_argument("--warmup-s", type=float, default=8.0, help="of a step, not judged")
    ap.add_argument("--drain-s", type=float, default=15.0, help="to empty after a step")
    ap.add_argument("--start", type=int, default=10_000)
    ap.add_argument("--step", type=int, default=10_000)
    ap.add_argument("--max-rate", type=int, default=100_000)
    ap.add_argument("--resolution", type=int, default=2_500, help="of the rate found")
    ap.add_argument("--scrape-s", type=float, default=15.0)
    ap.add_argument("--max-minutes", type=float, default=5.0, help="in all, both pipelines")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run of about a minute: 10 s steps at 10k and 20k/s, coarse",
    )
    ap.add_argument("--stock-first", action="store_true")
    ap.add_argument("--log-dir", type=Path, help="keep each process's output here")
    ap.add_argument("--only", nargs="*", choices=("tradewire", "stock"))
    args = ap.parse_args()
    if args.quick:
        args.step_s, args.warmup_s, args.drain_s, args.max_minutes = 10.0, 4.0, 5.0, 1.0
        args.resolution = args.max_rate  # no halving: what the two steps show
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
