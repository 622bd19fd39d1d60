"""Soak with chaos: a simulated fleet through the whole pipeline for a bounded time while
services are SIGKILLed and nats-server restarts; then exact counts, flat resources, and
every alert paged once.

usage: uv run python benchmarks/soak.py [--duration 1200] [--bots 200] [--rate 10]
       [--kill-every 60] [--targets store,metrics,alerts] [--nats-restart-at S]
       [--nats-down 5] [--ready-timeout 300] [--seed 1] [--json FILE] [--plot FILE.svg]
       [--keep] [--smoke]

``--smoke`` is a run of about 2 minutes (60 s of fleet, a kill every 15 s);
tests/stack/test_soak.py runs a 6-second one in the suite.

Everything runs as separate processes on loopback, started here and stopped here by PID:
a nats-server (JetStream in this run's temporary directory, a monitoring port for
``/jsz``), ``tradewire serve store|metrics|alerts`` (the alerts service with the default
rules and a webhook receiver this script serves), and ``tradewire simulate`` (one
publisher per bot, the outboxes kept here) with incidents injected on a few bots.

Chaos, from the moment the fleet starts:

- every ``--kill-every`` s, SIGKILL one of ``--targets`` (seeded random) and start it
  again at once, with the same settings;
- once (``--nats-restart-at``, default mid-run, between two kills), SIGTERM nats-server,
  SIGTERM one service while NATS is down (it must still exit within 5 s) and start it
  again while NATS is still down, then start nats-server again ``--nats-down`` s later
  on the same port and store directory;
- no chaos in the last ``--tail`` s, so the last redeliveries settle before counting.

At the end (the fleet flushed, every durable consumer caught up, the services stopped
with SIGTERM), it checks:

- events: each publisher's run is seq 1..N in the store with no hole and no repeat, and
  the fleet's stored events equal those the publishers had acked (the simulator reports
  the fleet's totals; with emitted == acked and no hole in any run, every bot's acked
  events are stored, since no run can have stored more than it emitted), the stream holds
  each once, the store's dedup index (``seq_ranges`` and ``event_ids``) agrees;
- the metrics service: its ``pipeline_events_total{bot,kind}`` equals the store's rows for
  what its last process was delivered (stream sequences past the durable's ack floor
  when it started), and ``pipeline_lost_events`` is 0 for every bot;
- alerts: no alert notified as firing twice at one severity without a resolve between
  (``repeat_interval`` is 4 h) other than an alert paged less than 2 s before the alerts
  service was SIGKILLed (its state write may not have happened: paged again, by design,
  rather than never; counted apart), every alert firing (or resolved) for longer than
  ``group_interval`` + 30 s at the end was last notified so, and each injected incident
  paged once;
- resources: RSS and open file descriptors of every process, sampled from /proc.

Exit status 0 when every check passes. ``--json`` writes every number; ``--plot`` an SVG
of RSS and open files over time. ``--keep`` keeps the run's directory (logs, the store, the
notifications received as ``notifications.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).parent))
from _common import WebhookCapture, table

from tradewire.consumers.alerts import DEFAULT_RULES
from tradewire.consumers.embedded import EmbeddedNats, _die_with_parent
from tradewire.consumers.report._charts import Series, line_chart
from tradewire.consumers.simulate import Incident
from tradewire.schemas import Subjects

SERVICES = ("store", "metrics", "alerts")
SUBJECTS = Subjects()
GROUP_INTERVAL_S = 300.0  # the webhook receiver's default
ALERT_MARGIN_S = 30.0  # past group_interval: a tick, a restart, a delivery
# A page sent this shortly before the alerts service's SIGKILL may precede the write of
# its state: the next process pages again (at least once, by design), counted apart.
KILL_WINDOW_S = 2.0
TERM_LIMIT_S = 5.0  # docs/architecture.md: SIGTERM ends a service within 5 s
# The rule each injected incident should page, and how long after its start it can.
INCIDENT_RULE = {"drawdown": "Drawdown", "breaker_open": "CircuitBreakerOpen", "silent": "BotDown"}
INCIDENT_FIRES_AFTER_S = {"drawdown": 10.0, "breaker_open": 75.0, "silent": 135.0}
_SIM_TOTALS = re.compile(
    r"emitted ([\d,]+)\s+acked ([\d,]+)\s+in outbox ([\d,]+)\s+dropped ([\d,]+)"
    r"\s+rejected ([\d,]+)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body); status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status), r.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except OSError:
        return 0, b""


# -- processes ---------------------------------------------------------------------------
@dataclass
class Life:
    """One process of a child: when it started and ended (s into the run) and how."""

    pid: int
    start: float
    end: float | None = None
    how: str = ""  # SIGKILL, SIGTERM, exit N (on its own), end
    ready_s: float | None = None  # start to /ready 200
    exit_s: float | None = None  # SIGTERM to exit
    code: int | None = None


class Child:
    """A program this script starts, kills and restarts, by the PID it got."""

    def __init__(
        self, name: str, argv: list[str], log: Path, clock: Callable[[], float], port: int = 0
    ) -> None:
        self.name, self.argv, self.log, self.clock, self.port = name, argv, log, clock, port
        self.proc: subprocess.Popen[bytes] | None = None
        self.lives: list[Life] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIRE_")}
        if "TRADEWIRE_NATS_SERVER" in os.environ:
            env["TRADEWIRE_NATS_SERVER"] = os.environ["TRADEWIRE_NATS_SERVER"]
        self.env = env | {"PYTHONUNBUFFERED": "1"}

    @property
    def pid(self) -> int | None:
        proc = self.proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"--- start at {self.clock():.1f} s\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - one prctl before exec
                process_group=0,  # a Ctrl-C reaches this script, which stops them
            )
        self.lives.append(Life(self.proc.pid, self.clock()))

    def _ended(self, how: str) -> Life:
        assert self.proc is not None
        life = self.lives[-1]
        life.end, life.how, life.code = self.clock(), how, self.proc.returncode
        return life

    def kill(self) -> Life:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return self._ended("SIGKILL")

    def terminate(self, timeout: float = 15.0) -> Life:
        """SIGTERM and wait; SIGKILL after ``timeout`` (the life then says it hung)."""
        assert self.proc is not None
        t = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
            how = "SIGTERM"
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            how = f"SIGTERM: hung, SIGKILL after {timeout:g} s"
        life = self._ended(how)
        life.exit_s = time.monotonic() - t
        return life

    def exited_alone(self) -> Life | None:
        """The life that ended without us (crash, exit 1), once, or None."""
        if self.proc is None or self.proc.poll() is None or self.lives[-1].end is not None:
            return None
        return self._ended(f"exit {self.proc.returncode}")

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Seconds from start until /ready answers 200; raises if it exits or times out."""
        life = self.lives[-1]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start: {self.tail()}")
            if http_get(f"http://127.0.0.1:{self.port}/ready", 2.0)[0] == 200:
                ready = self.clock() - life.start
                if life.ready_s is None:
                    life.ready_s = ready
                return ready
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:g} s: {self.tail()}")

    def tail(self, lines: int = 8) -> str:
        text = self.log.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def stop_if_running(self) -> None:
        if self.pid is not None:
            self.terminate(10.0)


# -- sampling ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    t: float
    name: str
    pid: int
    rss_mb: float
    fds: int


def read_proc(pid: int) -> tuple[float, int] | None:
    """(RSS in MiB, open file descriptors) of a live process, from /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024, fds
    return None  # a zombie has no VmRSS


class Sampler(threading.Thread):
    def __init__(self, pids: Callable[[], dict[str, int | None]], every: float, clock: Any):
        super().__init__(daemon=True)
        self.pids, self.every, self.clock = pids, every, clock
        self.samples: list[Sample] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every):
            for name, pid in self.pids().items():
                got = read_proc(pid) if pid else None
                if pid and got is not None:
                    self.samples.append(Sample(self.clock(), name, pid, *got))


def _slope_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (s, value), per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    den = sum((p[0] - mx) ** 2 for p in points)
    return 0.0 if den == 0 else 60 * sum((p[0] - mx) * (p[1] - my) for p in points) / den


def resource_rows(samples: list[Sample], duration: float, warmup: float) -> list[dict[str, Any]]:
    """Per process name: values at the start (after warm-up), mid-run and end, the max,
    and the RSS and fd slopes over its longest life after that life's warm-up."""
    rows = []
    by_name: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_name[s.name].append(s)
    for name, ss in by_name.items():
        lives: dict[int, list[Sample]] = defaultdict(list)
        for s in ss:
            lives[s.pid].append(s)
        settled = [s for life in lives.values() for s in life if s.t - life[0].t >= warmup]
        settled.sort(key=lambda s: s.t)
        use = settled or ss
        longest = max(lives.values(), key=lambda life: life[-1].t - life[0].t)
        steady = [s for s in longest if s.t - longest[0].t >= warmup] or longest
        mid = min(use, key=lambda s: abs(s.t - duration / 2))
        rows.append(
            {
                "name": name,
                "processes": len(lives),
                "rss_mb": {
                    "start": use[0].rss_mb,
                    "mid": mid.rss_mb,
                    "end": use[-1].rss_mb,
                    "max": max(s.rss_mb for s in ss),
                },
                "fds": {
                    "start": use[0].fds,
                    "mid": mid.fds,
                    "end": use[-1].fds,
                    "max": max(s.fds for s in ss),
                },
                "longest_life_s": steady[-1].t - steady[0].t,
                "rss_slope_mb_per_min": _slope_per_min([(s.t, s.rss_mb) for s in steady]),
                "fds_slope_per_min": _slope_per_min([(s.t, float(s.fds)) for s in steady]),
            }
        )
    return sorted(rows, key=lambda r: str(r["name"]))


def plot(samples: list[Sample], began: float, path: Path) -> None:
    """RSS and open files of every process over the run, as one SVG."""
    charts = []
    for title, value in (
        ("RSS (MiB) per process", lambda s: s.rss_mb),
        ("open file descriptors per process", lambda s: float(s.fds)),
    ):
        series = defaultdict(list)
        for s in samples:
            series[s.name].append((began + s.t, value(s)))
        charts.append(
            line_chart(
                [Series(n, pts) for n, pts in sorted(series.items())],
                title,
                y_fmt=lambda v: f"{v:,.0f}",
            )
        )
    height = 260
    body = "".join(
        f'<g transform="translate(0,{i * height})">{c}</g>' for i, c in enumerate(charts)
    )
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="920" height="{height * len(charts)}">'
        f'<rect width="100%" height="100%" fill="white"/>{body}</svg>\n'
    )


# -- NATS monitoring -----------------------------------------------------------------------
class Monitor:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/jsz?accounts=true&streams=true&consumers=true"

    def streams(self) -> dict[str, dict[str, Any]]:
        status, body = http_get(self.url)
        if status != 200:
            raise RuntimeError(f"nats monitoring answered {status}")
        data = json.loads(body)
        return {
            s["name"]: s for acc in data.get("account_details", []) for s in acc["stream_detail"]
        }

    def consumer(self, stream: str, durable: str) -> dict[str, Any] | None:
        for c in self.streams().get(stream, {}).get("consumer_detail") or []:
            if c["name"] == durable:
                return dict(c)
        return None

    def caught_up(self, pairs: list[tuple[str, str]]) -> bool:
        for stream, durable in pairs:
            c = self.consumer(stream, durable)
            if c is None or c["num_pending"] or c["num_ack_pending"]:
                return False
        return True


def wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.25)


# -- the run ---------------------------------------------------------------------------------
@dataclass
class Chaos:
    t: float
    what: str
    detail: str


@dataclass(frozen=True)
class FleetTotals:
    """The simulator's last totals line: what the publishers did."""

    emitted: int
    acked: int
    in_outbox: int
    dropped: int
    rejected: int


@dataclass
class Result:
    config: dict[str, Any]
    chaos: list[Chaos] = field(default_factory=list)
    lives: dict[str, list[Life]] = field(default_factory=dict)
    events: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    alerts: dict[str, Any] = field(default_factory=dict)
    resources: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def default_incidents(bots: int, duration: float) -> list[str]:
    """Incidents spread over the run, each on its own bot, most straddling kills."""
    width = len(str(bots))

    def bot(i: int) -> str:
        return f"sim-bot-{min(i, bots):0{width}d}"

    d = duration
    out = [f"drawdown:{bot(3)}:{0.1 * d:g}:{0.35 * d:g}", f"drawdown:{bot(20)}:{0.6 * d:g}"]
    if d >= 600:  # the breaker's `for: 1m` and BotDown's 2 min need a long run
        out += [
            f"breaker_open:{bot(11)}:{0.25 * d:g}:{0.45 * d:g}",
            f"silent:{bot(7)}:{0.4 * d:g}:{0.6 * d:g}",
        ]
    return out


class Soak:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args, self.tmp = args, tmp
        self.rng = random.Random(args.seed)
        self.began = time.time()
        self.t0 = time.monotonic()
        self.result = Result(config={k: v for k, v in vars(args).items() if k != "func"})
        self.hook = WebhookCapture()
        mon_port = free_port()
        conf = tmp / "nats.conf"
        conf.write_text(f'http: "127.0.0.1:{mon_port}"\n')
        self.nats = EmbeddedNats(store_dir=tmp / "nats", config=conf)
        self.nats_lives: list[Life] = []
        self.monitor = Monitor(mon_port)
        self.services: dict[str, Child] = {}
        self.sim: Child | None = None
        # The metrics durable's ack floor when its running process started: that process
        # is delivered every event past it (its counters start at zero).
        self.metrics_floor = 0
        self.metrics_floor_exact = True
        self.sampler = Sampler(self._pids, args.sample_every, self.clock)

    def clock(self) -> float:
        return time.monotonic() - self.t0

    def _pids(self) -> dict[str, int | None]:
        procs = {n: c.pid for n, c in self.services.items()}
        if self.sim is not None:
            procs["simulate"] = self.sim.pid
        procs["nats-server"] = self.nats.proc.pid if self.nats.proc else None
        return procs

    def log(self, what: str, detail: str) -> None:
        self.result.chaos.append(Chaos(round(self.clock(), 1), what, detail))
        print(f"[{self.clock():7.1f}s] {what}: {detail}", file=sys.stderr, flush=True)

    # -- starting ------------------------------------------------------------------------
    def _cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "tradewire.consumers.cli", *args]

    def start_all(self) -> None:
        self.nats.start()
        self.nats_lives.append(Life(self.nats.proc.pid if self.nats.proc else 0, self.clock()))
        url = self.nats.url
        rules = self.tmp / "rules.yaml"
        rules.write_text(
            DEFAULT_RULES.read_text()
            + f"\nreceivers:\n  - name: soak\n    type: webhook\n    url: {self.hook.url}\n"
        )
        extra = {
            "store": ["--db", str(self.tmp / "store.duckdb")],
            "metrics": [],
            "alerts": ["--rules", str(rules)],
        }
        for name in SERVICES:
            port = free_port()
            argv = self._cli("serve", name, "--nats-url", url, "--http-port", str(port))
            self.services[name] = Child(
                name, argv + extra[name], self.tmp / f"{name}.log", self.clock, port
            )
        for child in self.services.values():
            child.start()
        for child in self.services.values():
            child.wait_ready(self.args.ready_timeout)
        incidents = self.args.incident or default_incidents(self.args.bots, self.args.duration)
        self.incidents = [Incident.parse(x) for x in incidents]
        sim = self._cli(
            "simulate",
            "--nats-url",
            url,
            "--bots",
            str(self.args.bots),
            "--rate",
            f"{self.args.rate:g}",
            "--duration",
            f"{self.args.duration:g}",
            "--seed",
            str(self.args.seed),
            "--outbox-dir",
            str(self.tmp / "outbox"),
            *(f"--incident={x}" for x in incidents),
        )
        shift = time.monotonic() - self.t0
        self.t0 += shift  # times are from the fleet's start; the services' are before it
        self.began = time.time()
        for life in [*self.nats_lives, *(lf for c in self.services.values() for lf in c.lives)]:
            life.start -= shift
        self.sim = Child("simulate", sim, self.tmp / "simulate.log", self.clock)
        self.sim.start()
        self.sampler.start()
        self.log(
            "fleet", f"{self.args.bots} bots x {self.args.rate:g} events/s; " + " ".join(incidents)
        )

    def _before_metrics_start(self) -> None:
        """The metrics durable's ack floor, and whether everything past it is unacked
        (then the next process is delivered exactly the events past it)."""
        c = self.monitor.consumer(SUBJECTS.events_stream, SUBJECTS.durable("metrics"))
        if c is None:
            return
        floor, delivered = c["ack_floor"]["stream_seq"], c["delivered"]["stream_seq"]
        self.metrics_floor = floor
        # Acks above the floor would be events the next process is not delivered.
        self.metrics_floor_exact = c["num_ack_pending"] == delivered - floor

    def restart(self, name: str) -> None:
        child = self.services[name]
        if name == "metrics":
            self._before_metrics_start()
        child.start()
        ready = child.wait_ready(self.args.ready_timeout)
        self.log("ready", f"{name} (pid {child.pid}) ready {ready:.1f} s after its start")

    # -- chaos ---------------------------------------------------------------------------
    def kill_one(self) -> None:
        name = self.rng.choice(self.args.targets)
        child = self.services[name]
        pid = child.pid
        child.kill()
        self.log("SIGKILL", f"{name} (pid {pid})")
        time.sleep(0.5)  # acks the dead process sent reach the server first
        self.restart(name)

    def restart_nats(self) -> None:
        self.nats.stop()
        self.nats_lives[-1].end, self.nats_lives[-1].how = self.clock(), "SIGTERM"
        self.log("nats-server", "stopped (SIGTERM)")
        name = self.rng.choice(self.args.targets)
        child = self.services[name]
        pid = child.pid
        life = child.terminate()
        self.log(
            "SIGTERM while NATS is down",
            f"{name} (pid {pid}) exited {life.code} after {life.exit_s:.2f} s",
        )
        if name == "metrics":  # its next process starts while NATS is away
            self.metrics_floor_exact = False
        child.start()
        time.sleep(self.args.nats_down)
        self.nats.start()
        self.nats_lives.append(Life(self.nats.proc.pid if self.nats.proc else 0, self.clock()))
        if name == "metrics":
            self._before_metrics_start()
        t = time.monotonic()
        for c in self.services.values():
            c.wait_ready(self.args.ready_timeout)
        self.log(
            "nats-server",
            f"started again (pid {self.nats.proc.pid if self.nats.proc else 0}); every "
            f"service ready {time.monotonic() - t:.1f} s later",
        )

    def check_exits(self) -> None:
        for name, child in self.services.items():
            life = child.exited_alone()
            if life is not None:
                self.result.failures.append(f"{name} exited on its own: {life.how}")
                self.log("exited on its own", f"{name} {life.how}: {child.tail()}")
                self.restart(name)

    def chaos(self) -> None:
        a = self.args
        kills = [k * a.kill_every for k in range(1, int(a.duration / a.kill_every) + 1)]
        kills = [t for t in kills if t <= a.duration - a.tail]
        nats_at = a.nats_restart_at
        if nats_at is None:
            nats_at = (int(a.duration / 2 / a.kill_every) + 0.5) * a.kill_every
        plan = sorted([(t, "kill") for t in kills] + [(nats_at, "nats")])
        assert self.sim is not None
        for at, what in plan:
            while self.clock() < at:
                self.check_exits()
                time.sleep(0.2)
            if what == "kill":
                self.kill_one()
            else:
                self.restart_nats()
        while self.sim.proc is not None and self.sim.proc.poll() is None:
            self.check_exits()
            if self.clock() > a.duration + 120:
                raise RuntimeError(f"simulate still running at {self.clock():.0f} s")
            time.sleep(0.2)
        self.sim._ended(f"exit {self.sim.proc.returncode if self.sim.proc else '?'}")

    # -- the end ---------------------------------------------------------------------------
    def finish(self) -> None:
        r = self.result
        assert self.sim is not None
        found = _SIM_TOTALS.findall(self.sim.log.read_text())
        if not found:
            raise RuntimeError(f"no totals from simulate: {self.sim.tail()}")
        fleet = FleetTotals(*(int(x.replace(",", "")) for x in found[-1]))
        self.log(
            "fleet done",
            f"emitted {fleet.emitted:,} acked {fleet.acked:,} in outbox {fleet.in_outbox:,}",
        )
        durables = [
            (SUBJECTS.events_stream, SUBJECTS.durable(n)) for n in ("store", "metrics", "alerts")
        ]
        durables.append((SUBJECTS.alerts_stream, SUBJECTS.durable("store-alerts")))
        wait_for(lambda: self.monitor.caught_up(durables), 180, "every consumer caught up")
        self.log("caught up", "every durable consumer: nothing pending, nothing unacked")
        time.sleep(2 * 1.0 + 0.5)  # the alerts clock's last ticks; deliveries in flight
        metrics = self.services["metrics"]
        status, body = http_get(f"http://127.0.0.1:{metrics.port}/metrics.json", 30)
        snapshot = json.loads(body) if status == 200 else {}
        _, health = http_get(f"http://127.0.0.1:{self.services['alerts'].port}/health")
        alerts_health = json.loads(health) if health else {}
        alerts_end = time.time()
        for name in ("alerts", "metrics"):
            life = self.services[name].terminate()
            self.log("SIGTERM", f"{name}: exit {life.code} after {life.exit_s:.2f} s")
        wait_for(lambda: self.monitor.caught_up([durables[-1]]), 60, "the store's alerts consumer")
        life = self.services["store"].terminate()
        self.log("SIGTERM", f"store: exit {life.code} after {life.exit_s:.2f} s")
        streams = self.monitor.streams()
        self.sampler.halt.set()
        con = duckdb.connect(str(self.tmp / "store.duckdb"), read_only=True)
        try:
            r.events = self._count_events(con, streams, fleet)
            r.metrics = self._compare_metrics(con, snapshot)
            r.alerts = self._check_alerts(con, alerts_end, alerts_health)
        finally:
            con.close()
        self.nats.stop()
        self.nats_lives[-1].end, self.nats_lives[-1].how = self.clock(), "SIGTERM (end)"

    def _count_events(
        self,
        con: duckdb.DuckDBPyConnection,
        streams: dict[str, dict[str, Any]],
        fleet: FleetTotals,
    ) -> dict[str, Any]:
        acked = fleet.acked
        runs = con.execute(
            "SELECT bot, run, count(*), count(DISTINCT id), count(DISTINCT seq), min(seq), "
            "max(seq) FROM events GROUP BY bot, run"
        ).fetchall()
        rows = sum(x[2] for x in runs)
        ids = sum(x[3] for x in runs)
        holes = sum(x[6] - x[4] for x in runs)  # seqs missing below each run's max
        bad_start = [x[1] for x in runs if x[5] != 1]
        bots_with_runs = Counter(x[0] for x in runs)
        (event_ids,) = con.execute(  # the store's dedup index: ranges of seq, other ids
            "SELECT (SELECT coalesce(sum(hi - lo + 1), 0) FROM seq_ranges)"
            " + (SELECT count(*) FROM event_ids)"
        ).fetchone() or (0,)
        (quarantined,) = con.execute("SELECT count(*) FROM quarantine").fetchone() or (0,)
        in_stream = streams[SUBJECTS.events_stream]["state"]["messages"]
        out = {
            **asdict(fleet),
            "in_stream": in_stream,
            "stored_rows": rows,
            "stored_unique": ids,
            "event_ids": event_ids,
            "quarantined": quarantined,
            "runs": len(runs),
            "bots": len(bots_with_runs),
            "bots_with_more_than_one_run": sum(n > 1 for n in bots_with_runs.values()),
            "seq_holes": holes,
            "runs_not_starting_at_1": len(bad_start),
            "lost": acked - ids,
            "duplicated": rows - ids,
        }
        fails = self.result.failures
        if fleet.emitted != acked or fleet.in_outbox or fleet.dropped or fleet.rejected:
            fails.append(f"publishers: {fleet}")
        if out["lost"] or out["duplicated"] or holes or bad_start or ids != event_ids:
            fails.append(f"events: {out}")
        if in_stream != acked:
            fails.append(f"stream holds {in_stream} messages, {acked} acked")
        if len(bots_with_runs) != self.args.bots or out["bots_with_more_than_one_run"]:
            fails.append(f"runs: {len(runs)} for {len(bots_with_runs)} bots")
        return out

    def _compare_metrics(
        self, con: duckdb.DuckDBPyConnection, snapshot: dict[str, Any]
    ) -> dict[str, Any]:
        fams = snapshot.get("metrics", {})
        counted = {
            (s["labels"]["bot"], s["labels"]["kind"]): int(s["value"])
            for s in fams.get("tradewire_pipeline_events_total", [])
        }
        lost = {
            s["labels"]["bot"]: int(s["value"])
            for s in fams.get("tradewire_pipeline_lost_events", [])
            if s["value"]
        }
        stored = {
            (bot, kind): int(n)
            for bot, kind, n in con.execute(
                "SELECT bot, kind, count(*) FROM events WHERE stream_seq > ? GROUP BY bot, kind",
                [self.metrics_floor],
            ).fetchall()
        }
        differ = {
            f"{k[0]}/{k[1]}": (counted.get(k, 0), stored.get(k, 0))
            for k in counted.keys() | stored.keys()
            if counted.get(k, 0) != stored.get(k, 0)
        }
        out = {
            "floor_stream_seq": self.metrics_floor,
            "floor_exact": self.metrics_floor_exact,
            "counted": sum(counted.values()),
            "stored_past_floor": sum(stored.values()),
            "series_differing": len(differ),
            "differing_examples": dict(sorted(differ.items())[:10]),
            "bots_with_lost_events": len(lost),
            "lost_events_examples": dict(sorted(lost.items())[:10]),
        }
        if not snapshot:
            self.result.failures.append("metrics: /metrics.json did not answer")
        if differ and self.metrics_floor_exact:
            self.result.failures.append(f"metrics: {len(differ)} (bot, kind) counters differ")
        if lost:
            self.result.failures.append(f"metrics: lost events reported for {len(lost)} bots")
        return out

    def _check_alerts(
        self, con: duckdb.DuckDBPyConnection, end: float, health: dict[str, Any]
    ) -> dict[str, Any]:
        told: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for at, body in self.hook.received:
            for a in body["alerts"]:
                told[a["fingerprint"]].append(a | {"at": at})
        kills = [lf.end for lf in self.services["alerts"].lives if lf.how == "SIGKILL"]
        twice: list[str] = []
        at_kill: list[str] = []
        for fp, notes in told.items():
            last: dict[str, Any] | None = None
            for n in notes:
                now = (n["state"], n["severity"])
                if now[0] == "firing" and last and (last["state"], last["severity"]) == now:
                    first = last["at"] - self.began
                    seen = f"{n['rule']}@{n['bot']} {fp} ({now[1]}) at {first:.0f} s"
                    seen += f" and {n['at'] - self.began:.0f} s"
                    killed = any(k is not None and 0 <= k - first <= KILL_WINDOW_S for k in kills)
                    (at_kill if killed else twice).append(seen)
                last = n
        changes = con.execute(
            "SELECT fingerprint, rule, bot, state, severity, ts FROM alerts "
            "WHERE state IN ('firing', 'resolved') ORDER BY ts"
        ).fetchall()
        final: dict[str, tuple[str, str, str, str, float]] = {}
        for fp, rule, bot, state, severity, ts in changes:
            final[fp] = (rule, bot, state, severity, ts)
        critical = {
            (rule, bot)
            for rule, bot, st, sev, _ in final.values()
            if st == "firing" and sev == "critical"
        }
        lost = []
        settled = 0
        for fp, (rule, bot, state, severity, ts) in final.items():
            if ts > end - GROUP_INTERVAL_S - ALERT_MARGIN_S or severity == "info":
                continue  # may rightly still wait for its group
            if state == "firing" and severity == "warning" and (rule, bot) in critical:
                continue  # inhibited by the critical one of the same rule and bot
            settled += 1
            notes = told.get(fp, [])
            last_note = (notes[-1]["state"], notes[-1]["severity"]) if notes else None
            if state == "firing" and last_note != ("firing", severity):
                since = ts - self.began
                lost.append(
                    f"{rule}@{bot} firing ({severity}) since {since:.0f} s: told {last_note}"
                )
            if state == "resolved" and last_note is not None and last_note[0] != "resolved":
                lost.append(
                    f"{rule}@{bot} resolved at {ts - self.began:.0f} s: last told {last_note}"
                )
        incidents = []
        duration = self.args.duration
        for inc in self.incidents:
            rule = INCIDENT_RULE[inc.kind]
            notes = [
                n for ns in told.values() for n in ns if (n["rule"], n["bot"]) == (rule, inc.bot)
            ]
            pages = sum(n["state"] == "firing" for n in notes)
            resolves = sum(n["state"] == "resolved" for n in notes)
            until = inc.end_s if inc.end_s is not None else duration
            ends = "" if inc.end_s is None else f"{inc.end_s:g}"
            should_fire = until - inc.start_s >= INCIDENT_FIRES_AFTER_S[inc.kind]
            should_resolve = (
                should_fire
                and inc.end_s is not None
                and inc.end_s + GROUP_INTERVAL_S + ALERT_MARGIN_S < duration
            )
            # Too short to be sure it fires: paging once is right too, twice never.
            ok = pages == 1 if should_fire else pages <= 1
            ok = ok and resolves <= 1 and (not should_resolve or resolves == 1)
            incidents.append(
                {
                    "incident": f"{inc.kind}:{inc.bot}:{inc.start_s:g}:{ends}",
                    "rule": rule,
                    "pages": pages,
                    "resolves": resolves,
                    "expected_pages": 1 if should_fire else 0,
                    "resolve_expected": should_resolve,
                    "ok": ok,
                }
            )
            if not ok:
                self.result.failures.append(f"incident {incidents[-1]}")
        notifications = health.get("checks", {}).get("notifications", {}).get("details", {})
        out = {
            "notifications": len(self.hook.received),
            "alerts_notified": sum(len(n) for n in told.values()),
            "firing_notified": sum(n["state"] == "firing" for ns in told.values() for n in ns),
            "alert_instances": len(final),
            "instances_checked": settled,
            "paged_twice": len(twice),
            "paged_twice_examples": twice[:10],
            "paged_again_after_a_kill": len(at_kill),
            "paged_again_after_a_kill_examples": at_kill[:10],
            "lost": len(lost),
            "lost_examples": lost[:10],
            "incidents": incidents,
            "last_process_sent": notifications.get("sent", {}),
            "last_process_failed": notifications.get("failed", {}),
        }
        if twice:
            self.result.failures.append(f"alerts: {len(twice)} paged twice")
        if lost:
            self.result.failures.append(f"alerts: {len(lost)} lost")
        return out

    def close(self) -> None:
        self.sampler.halt.set()
        for child in [*self.services.values(), *([self.sim] if self.sim else [])]:
            child.stop_if_running()
        self.nats.close()
        self.hook.close()
        with (self.tmp / "notifications.jsonl").open("w") as out:  # for --keep
            for at, body in self.hook.received:
                out.write(json.dumps({"at": at - self.began, **body}) + "\n")

    def run(self) -> Result:
        r = self.result
        try:
            self.start_all()
            self.chaos()
            self.finish()
        finally:
            self.close()
        for name, child in [*self.services.items(), ("simulate", self.sim)]:
            if child is not None:
                r.lives[name] = child.lives
        r.lives["nats-server"] = self.nats_lives
        for name in SERVICES:
            for life in r.lives[name]:
                if life.how.startswith("SIGTERM") and (
                    life.code != 0 or (life.exit_s or 0) > TERM_LIMIT_S
                ):
                    r.failures.append(
                        f"{name} on SIGTERM: exit {life.code} after {life.exit_s:.1f} s"
                    )
        warmup = min(60.0, self.args.duration / 5)
        r.resources = resource_rows(self.sampler.samples, self.args.duration, warmup)
        if self.args.plot:
            plot(self.sampler.samples, self.began, self.args.plot)
        return r


# -- report ------------------------------------------------------------------------------------
def report(r: Result) -> str:
    e, m, a = r.events, r.metrics, r.alerts
    out = [
        table(
            [(k, f"{v:,}") for k, v in e.items()],
            ("events", "count"),
        ),
        "",
        table(
            [(k, str(v)) for k, v in m.items()],
            ("metrics service vs store", "value"),
        ),
        "",
        table(
            [(k, str(v)) for k, v in a.items() if k != "incidents"],
            ("alerts", "value"),
        ),
        "",
        table(
            [
                (
                    i["incident"],
                    i["rule"],
                    str(i["pages"]),
                    str(i["resolves"]),
                    "yes" if i["ok"] else "NO",
                )
                for i in a.get("incidents", [])
            ],
            ("incident", "rule", "pages", "resolves", "ok"),
        ),
        "",
    ]
    rows = []
    for row in r.resources:
        rss, fds = row["rss_mb"], row["fds"]
        rows.append(
            (
                row["name"],
                str(row["processes"]),
                f"{rss['start']:.0f} / {rss['mid']:.0f} / {rss['end']:.0f}",
                f"{rss['max']:.0f}",
                f"{row['rss_slope_mb_per_min']:+.2f} over {row['longest_life_s'] / 60:.1f} min",
                f"{fds['start']} / {fds['mid']} / {fds['end']}",
                str(fds["max"]),
                f"{row['fds_slope_per_min']:+.2f}",
            )
        )
    out.append(
        table(
            rows,
            (
                "process",
                "processes",
                "RSS MiB start / mid / end",
                "max",
                "RSS slope MiB/min (longest life)",
                "fds start / mid / end",
                "max",
                "fd slope /min",
            ),
        )
    )
    out.append("")
    restarts = []
    for name, lives in r.lives.items():
        for life in lives:
            restarts.append(
                (
                    name,
                    str(life.pid),
                    f"{life.start:.1f}",
                    "" if life.end is None else f"{life.end:.1f}",
                    life.how,
                    "" if life.ready_s is None else f"{life.ready_s:.1f}",
                    "" if life.exit_s is None else f"{life.exit_s:.2f}",
                )
            )
    out.append(
        table(
            restarts,
            ("process", "pid", "start s", "end s", "how", "ready after s", "SIGTERM exit s"),
        )
    )
    out.append("")
    out.append("FAILED:\n  " + "\n  ".join(r.failures) if r.failures else "OK: every check passed")
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else "",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--duration", type=float, default=1200.0, help="seconds of fleet (1200)")
    ap.add_argument("--bots", type=int, default=200)
    ap.add_argument("--rate", type=float, default=10.0, help="events/s per bot (10)")
    ap.add_argument("--kill-every", type=float, default=60.0, help="seconds between kills")
    ap.add_argument(
        "--targets",
        type=lambda s: s.split(","),
        default=list(SERVICES),
        help="services to kill, comma-separated (store,metrics,alerts)",
    )
    ap.add_argument("--nats-restart-at", type=float, help="seconds in (default: mid-run)")
    ap.add_argument("--nats-down", type=float, default=5.0, help="seconds NATS stays down")
    ap.add_argument("--tail", type=float, default=60.0, help="no chaos in the last N s")
    ap.add_argument("--sample-every", type=float, default=5.0, help="seconds between samples")
    ap.add_argument(
        "--ready-timeout",
        type=float,
        default=300.0,
        help="seconds a (re)started service may take to be ready (the alerts service "
        "replays its longest window first); past it the run fails",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--incident",
        action="append",
        default=[],
        help="KIND:BOT:START[:END], repeatable (default: a few spread over the run)",
    )
    ap.add_argument("--json", type=Path, help="write every number here")
    ap.add_argument("--plot", type=Path, help="write an SVG of RSS and open files here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="about 2 minutes: --duration 60 --kill-every 15 --tail 15 --sample-every 2",
    )
    args = ap.parse_args(argv)
    if args.smoke:
        ap.set_defaults(duration=60.0, kill_every=15.0, tail=15.0, sample_every=2.0)
        args = ap.parse_args(argv)  # explicit options still win
    bad = sorted(set(args.targets) - set(SERVICES))
    if bad:
        ap.error(f"--targets: unknown {', '.join(bad)} (store, metrics, alerts)")
    if not (args.kill_every > 0 and args.duration > 0):
        ap.error("--kill-every and --duration must be > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="tradewire-soak-"))
    try:
        result = Soak(args, tmp).run()
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2, default=str))
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
