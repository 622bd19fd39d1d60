"""The CLI as an operator meets it: no NATS, a closed pipe, --version, --help, exact counts."""

from __future__ import annotations

import asyncio
import importlib.metadata
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from nats.aio.client import Client

from tradewire.consumers.alerts import DEFAULT_RULES
from tradewire.consumers.cli import main
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.store import StoreWriter
from tradewire.consumers.tail import tail
from tradewire.schemas import Mark, Subjects, encode

CLI = [sys.executable, "-m", "tradewire.consumers.cli"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"tradewire {importlib.metadata.version('tradewire')}\n"


@pytest.mark.parametrize("service", ["store", "metrics", "alerts"])
def test_each_service_shows_its_own_examples(
    service: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["serve", service, "--help"])
    examples = capsys.readouterr().out.split("example:")[1]
    shown = {word for word in ("store", "metrics", "alerts") if f"serve {word}" in examples}
    assert shown == {service}


def _run_all(commands: list[list[str]], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """Run the commands at once (each is a fresh process: imports cost a second)."""
    procs = [
        subprocess.Popen(
            [*CLI, *argv],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TRADEWIRE_NATS_URL": ""},
        )
        for argv in commands
    ]
    done = []
    for argv, p in zip(commands, procs, strict=True):
        out, err = p.communicate(timeout=50)
        done.append(subprocess.CompletedProcess(argv, p.returncode, out, err))
    return done


def _clients(url: str, jsonl: Path) -> list[list[str]]:
    return [
        ["sql", "SELECT 1", "--nats-url", url],
        ["report", "daily", "--nats-url", url],
        ["tail", "--nats-url", url],
        ["alerts", "list", "--nats-url", url],
        ["alerts", "silence", "--bot", "b", "--for", "1h", "--comment", "c", "--nats-url", url],
        ["alerts", "unsilence", "0123456789ab", "--nats-url", url],
        ["alerts", "backtest", "--nats-url", url],
        ["import", "gpt-trader", "--events-jsonl", str(jsonl), "--bot", "b", "--nats-url", url],
    ]


@pytest.mark.parametrize(
    "argv", _clients("nats://127.0.0.1:1", Path("events.jsonl")), ids=lambda a: " ".join(a[:2])
)
def test_clients_without_nats_fail_fast_with_one_line(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Port 1 refuses at once; the clients used to retry for two minutes, logging each."""
    monkeypatch.chdir(tmp_path)  # no tradewire.duckdb here: the store is asked
    (tmp_path / "events.jsonl").write_text("")
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"tradewire {argv[0]}: cannot reach NATS at nats://127.0.0.1:1: ")
    assert err.count("\n") == 1 and out == ""
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.nats
@pytest.mark.slow
def test_clients_of_a_stopped_server_fail_fast_with_one_line(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    url = nats_server.url
    nats_server.close()
    for proc in _run_all(_clients(url, tmp_path / "none.jsonl")[:3], tmp_path):
        assert proc.returncode == 2, proc
        assert proc.stderr.startswith(f"tradewire {proc.args[0]}: cannot reach NATS at {url}: ")
        assert proc.stderr.count("\n") == 1, proc.stderr


@pytest.mark.slow
def test_a_closed_pipe_ends_every_command_quietly(tmp_path: Path) -> None:
    db = tmp_path / "f.duckdb"
    StoreWriter(db).close()
    commands = [
        ["--help"],
        ["alerts", "check", str(DEFAULT_RULES)],
        ["sql", "SELECT * FROM range(50000)", "--db", str(db), "--limit", "50000"],
        ["report", "daily", "--db", str(db), "--output-dir", str(tmp_path / "r")],
    ]
    read, write = os.pipe()
    os.close(read)  # like `| head` that has already gone: every write fails with EPIPE
    try:
        procs = [
            subprocess.Popen([*CLI, *argv], stdout=write, stderr=subprocess.PIPE, text=True)
            for argv in commands
        ]
        results = [
            (argv, p.communicate(timeout=50)[1], p.returncode)
            for argv, p in zip(commands, procs, strict=True)
        ]
    finally:
        os.close(write)
    for argv, err, code in results:
        # 141 as if killed by SIGPIPE; argparse itself drops what --help cannot write
        assert (err, code) == ("", 0 if argv[0].startswith("--") else 141), argv


@pytest.mark.nats
async def test_tail_stops_at_exactly_count(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects
) -> None:
    out = io.StringIO()
    subscribed = asyncio.Event()
    watcher = asyncio.create_task(
        tail(nats_server.url, subjects, count=8, out=out, ready=subscribed)
    )
    await asyncio.wait_for(subscribed.wait(), 20)
    for i in range(14):  # all at once: they queue up behind the eighth
        ev = Mark(symbol="X", price=float(i), id=f"t-{i}", bot="t", run="t", seq=i + 1, ts=1e9)
        await nc.publish(subjects.event("t", "mark"), encode(ev))
    await nc.flush()
    assert await asyncio.wait_for(watcher, 20) == 8
    assert len(out.getvalue().splitlines()) == 8


class _ClosedPipe(io.StringIO):
    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.nats
async def test_tail_into_a_closed_pipe_stops(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects
) -> None:
    """tail runs until Ctrl-C: a reader that went away must end it, not be ignored."""
    subscribed = asyncio.Event()
    watcher = asyncio.create_task(
        tail(nats_server.url, subjects, out=_ClosedPipe(), ready=subscribed)
    )
    await asyncio.wait_for(subscribed.wait(), 20)
    ev = Mark(symbol="X", price=1.0, id="p-1", bot="t", run="p", seq=1, ts=1e9)
    await nc.publish(subjects.event("t", "mark"), encode(ev))
    with pytest.raises(BrokenPipeError):
        await asyncio.wait_for(watcher, 20)
