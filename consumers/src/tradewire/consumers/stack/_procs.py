"""Start, watch and stop the stack's processes, by the PIDs recorded in its state file.

``up`` spawns each process in a session of its own (Ctrl-C in the terminal does not
reach them, and ``up`` can exit while they run), records its PID with the kernel's start
time of that PID (so ``down`` never signals a recycled PID), and waits until each answers
its readiness URL. ``down`` stops exactly the recorded processes, in reverse order, and
checks that none is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from tradewire.consumers.embedded import find_nats_server

from ._layout import COMPONENTS, StackError, find_binary
from ._render import Overrides, render_alertmanager, render_prometheus, render_rules, secret_files

__all__ = ["Proc", "StackState", "Status", "down", "load_state", "status", "up"]

STATE_FILE = "stack.json"


class Proc(msgspec.Struct, kw_only=True):
    name: str
    pid: int
    start: int  # /proc/<pid>/stat starttime: tells this process from a later one
    argv: list[str]
    log: str
    ready_url: str


class StackState(msgspec.Struct, kw_only=True):
    compose_dir: str
    ports: dict[str, int]
    procs: list[Proc] = msgspec.field(default_factory=list)


@dataclass(frozen=True)
class Status:
    name: str
    pid: int
    running: bool
    ready: int | None  # HTTP status of its readiness URL, None: no answer
    url: str


@dataclass(frozen=True)
class _Launch:
    name: str
    argv: list[str]
    ready: str  # the component whose URL tells readiness
    env: Mapping[str, str]


def _start_time(pid: int) -> int | None:
    """The PID's start time in clock ticks, or None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] in "ZX" else int(fields[19])


def _alive(p: Proc) -> bool:
    return _start_time(p.pid) == p.start


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our child (up and down in one process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _http_status(url: str, timeout: float = 1.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def _url(ports: Mapping[str, int], component: str) -> str:
    c = next(c for c in COMPONENTS if c.name == component)
    return f"http://127.0.0.1:{ports[component]}{c.ready}"


def load_state(state_dir: Path) -> StackState | None:
    path = state_dir / STATE_FILE
    try:
        return msgspec.json.decode(path.read_bytes(), type=StackState)
    except FileNotFoundError:
        return None
    except msgspec.DecodeError as exc:
        raise StackError(f"{path}: {exc}") from None


def _save(state_dir: Path, state: StackState) -> None:
    tmp = state_dir / (STATE_FILE + ".tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(state)))
    tmp.replace(state_dir / STATE_FILE)


def _check_free(ports: Mapping[str, int]) -> None:
    for name, port in ports.items():
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                raise StackError(
                    f"port {port} ({name}) is in use: choose others with --base-port N "
                    f"or --port {name}=P"
                ) from None


def _plan(
    compose: Path, state_dir: Path, ports: Mapping[str, int], over: Overrides, core_only: bool
) -> list[_Launch]:
    config, data = state_dir / "config", state_dir / "data"
    secrets = state_dir / "secrets"
    for d in (config, data, secrets, state_dir / "logs"):
        d.mkdir(parents=True, exist_ok=True)
    secrets.chmod(0o700)
    env = dict(os.environ)
    nats_url = f"nats://127.0.0.1:{ports['nats']}"
    (config / "alerts.yaml").write_text(render_rules(compose / "tradewire/alerts.yaml", ports))
    plan = [
        _Launch(
            "nats",
            [
                str(find_nats_server()),
                "-c",
                str(compose / "nats/nats.conf"),
                "-a",
                "127.0.0.1",
                "-p",
                str(ports["nats"]),
                "-m",
                str(ports["nats-monitor"]),
                "-sd",
                str(data / "nats"),
            ],
            "nats-monitor",
            env,
        )
    ]
    toml = str(compose / "tradewire/tradewire.toml")
    extra = {
        "store": ["--db", str(data / "fleet.duckdb")],
        "metrics": [],
        "alerts": ["--rules", str(config / "alerts.yaml")],
    }
    for service, flags in extra.items():
        argv = [sys.executable, "-m", "tradewire.consumers.cli", "serve", service]
        argv += ["--config", toml, "--nats-url", nats_url, "--http-host", "127.0.0.1"]
        argv += ["--http-port", str(ports[service]), *flags]
        plan.append(_Launch(service, argv, service, env))
    if core_only:
        return plan
    am_yml = compose / "alertmanager/alertmanager.yml"
    (config / "alertmanager.yml").write_text(render_alertmanager(am_yml, ports, secrets, over))
    (config / "prometheus.yml").write_text(
        render_prometheus(compose / "prometheus/prometheus.yml", ports, over)
    )
    for name in secret_files(am_yml):
        var = "TRADEWIRE_AM_SECRET_" + name.upper()
        if var not in env:
            print(
                f"tradewire stack: {var} is not set: receivers reading {name} fail", file=sys.stderr
            )
    am_env = env | {
        "ALERTMANAGER_BIN": find_binary("alertmanager"),
        "TRADEWIRE_AM_SECRETS_DIR": str(secrets),
    }
    plan += [
        _Launch(
            "alertmanager",
            [
                "/bin/sh",
                str(compose / "alertmanager/secrets-from-env.sh"),
                f"--config.file={config / 'alertmanager.yml'}",
                f"--storage.path={data / 'alertmanager'}",
                f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
                "--cluster.listen-address=",
            ],
            "alertmanager",
            am_env,
        ),
        _Launch(
            "prometheus",
            [
                find_binary("prometheus"),
                f"--config.file={config / 'prometheus.yml'}",
                f"--storage.tsdb.path={data / 'prometheus'}",
                f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            ],
            "prometheus",
            env,
        ),
        _Launch(
            "node-exporter",
            [
                find_binary("node-exporter"),
                f"--web.listen-address=127.0.0.1:{ports['node-exporter']}",
            ],
            "node-exporter",
            env,
        ),
    ]
    return plan


def _spawn(launch: _Launch, log: Path) -> int:
    return os.posix_spawn(
        launch.argv[0],
        launch.argv,
        launch.env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )


def _tail(path: str, lines: int = 5) -> str:
    try:
        return " | ".join(Path(path).read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _wait_ready(state: StackState, procs: Sequence[Proc], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(procs)
    while waiting:
        for p in list(waiting):
            if not _alive(p):
                _reap(p.pid)
                raise StackError(f"{p.name} exited at start: {_tail(p.log) or p.log}")
            if _http_status(p.ready_url) == 200:
                waiting.remove(p)
        if waiting and time.monotonic() > deadline:
            names = ", ".join(f"{p.name} ({p.ready_url})" for p in waiting)
            raise StackError(f"not ready after {timeout:g}s: {names}; logs in {Path(p.log).parent}")
        time.sleep(0.1)


def up(
    compose: Path,
    state_dir: Path,
    ports: Mapping[str, int],
    *,
    over: Overrides | None = None,
    core_only: bool = False,
    timeout: float = 60.0,
) -> StackState:
    """Start every process and wait for each to be ready; on any failure, stop the ones
    started and raise :class:`StackError`."""
    state_dir.mkdir(parents=True, exist_ok=True)
    old = load_state(state_dir)
    if old is not None and any(_alive(p) for p in old.procs):
        raise StackError(
            f"a stack is running from {state_dir}: `tradewire stack down --state-dir "
            f"{state_dir}` first"
        )
    _check_free(ports)
    plan = _plan(compose, state_dir, ports, over or Overrides(), core_only)
    state = StackState(compose_dir=str(compose), ports=dict(ports))
    try:
        for i, launch in enumerate(plan):
            log = state_dir / "logs" / f"{launch.name}.log"
            pid = _spawn(launch, log)
            start = _start_time(pid)
            proc = Proc(
                name=launch.name,
                pid=pid,
                start=start if start is not None else -1,
                argv=launch.argv,
                log=str(log),
                ready_url=_url(ports, launch.ready),
            )
            state.procs.append(proc)
            _save(state_dir, state)
            if i == 0:  # NATS first: the services would only retry without it
                _wait_ready(state, state.procs, timeout)
        _wait_ready(state, state.procs[1:], timeout)
    except BaseException:
        try:
            down(state_dir)
        except StackError as exc:
            print(f"tradewire stack: {exc}", file=sys.stderr)
        raise
    return state


def _signal(p: Proc, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(p.pid, sig)


def _gone(p: Proc, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(p):
        _reap(p.pid)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def down(state_dir: Path, timeout: float = 15.0) -> list[str]:
    """SIGTERM the recorded processes (SIGKILL after ``timeout``); return their names.
    Raises :class:`StackError` if one is still there afterwards."""
    state = load_state(state_dir)
    if state is None:
        return []
    stopped = []
    for p in reversed(state.procs):
        if _alive(p):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                _signal(p, sig)
                if _gone(p, timeout):
                    break
            stopped.append(p.name)
        _reap(p.pid)
    left = [f"{p.name} (pid {p.pid})" for p in state.procs if _alive(p)]
    if left:
        raise StackError(f"still running: {', '.join(left)}")
    (state_dir / STATE_FILE).unlink()
    return stopped


def status(state_dir: Path) -> list[Status]:
    state = load_state(state_dir)
    if state is None:
        raise StackError(f"no stack in {state_dir} (start one with `tradewire stack up`)")
    out = []
    for p in state.procs:
        running = _alive(p)
        out.append(
            Status(
                p.name, p.pid, running, _http_status(p.ready_url) if running else None, p.ready_url
            )
        )
    return out
