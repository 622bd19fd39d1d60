"""The tradewire CLI, run in-process and as a subprocess."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from nats.aio.client import Client

from tradewire.consumers.cli import main
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.tail import describe, tail
from tradewire.publisher import Publisher
from tradewire.schemas import Mark, Order, Subjects, json_schema_text


def test_schema_export_to_file(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    assert main(["schema", "export", "-o", str(out)]) == 0
    assert out.read_text() == json_schema_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "--rate", "nan"], "must be a finite number"),
        (["simulate", "--rate", "abc"], "not a number"),
        (["simulate", "--order-rate", "2"], "between 0 and 1"),
        (["tail", "--kind", "nope"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_values_are_reported_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--bots", "0", "--nats-url", "nats://127.0.0.1:1"]) == 2
    assert "bots must be" in capsys.readouterr().err
    assert main(["simulate", "--root", "a..b", "--nats-url", "nats://127.0.0.1:1"]) == 2


def test_tail_needs_a_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TRADEWIRE_NATS_URL", raising=False)
    assert main(["tail"]) == 2
    assert "no NATS" in capsys.readouterr().err


def test_help_has_examples() -> None:
    for cmd in ("simulate", "tail", "schema", "demo"):
        out = subprocess.run(
            [sys.executable, "-m", "tradewire.consumers.cli", cmd, "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "example:" in out, cmd


def test_describe_is_one_readable_line() -> None:
    ev = Order(
        symbol="BTC-USD",
        side="sell",
        status="rejected",
        qty=0.5,
        price=64000.0,
        reason="insufficient_funds",
        bot="bot-1",
        ts=1.7e9,
    )
    line = describe(ev)
    assert "bot-1" in line and "order" in line and "BTC-USD sell 0.5 @ 64000 rejected" in line
    assert "reason=insufficient_funds" in line and "\n" not in line


@pytest.mark.nats
async def test_tail_shows_events_and_flags_invalid(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    out = io.StringIO()
    subscribed = asyncio.Event()
    watcher = asyncio.create_task(
        tail(nats_server.url, subjects, count=3, out=out, ready=subscribed)
    )
    await asyncio.wait_for(subscribed.wait(), 20)
    async with Publisher(
        "tail-bot",
        url=nats_server.url,
        outbox_dir=tmp_path,
        heartbeat_interval_s=0,
        lifecycle_events=False,
    ) as tel:
        tel.emit(Mark(symbol="ETH-USD", price=3000.5))
        tel.order(symbol="ETH-USD", side="buy", status="filled", qty=2.0)
        assert await tel.flush(10)
    await nc.publish(subjects.event("tail-bot", "mark"), b'{"kind":"mark","price":NaN}')
    assert await asyncio.wait_for(watcher, 10) == 3
    lines = out.getvalue().splitlines()
    assert "ETH-USD 3000.5" in lines[0] and "tail-bot" in lines[0]
    assert "ETH-USD buy 2 filled" in lines[1]
    assert lines[2].startswith("INVALID tradewire.evt.tail-bot.mark: malformed")


@pytest.mark.nats
@pytest.mark.slow
def test_simulate_command_against_a_server(nats_server: EmbeddedNats) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tradewire.consumers.cli",
            "simulate",
            "--nats-url",
            nats_server.url,
            "--bots",
            "2",
            "--rate",
            "100",
            "--duration",
            "1.5",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "dropped 0" in proc.stdout and "emitted" in proc.stderr  # progress lines


@pytest.mark.nats
@pytest.mark.slow
def test_demo_runs_end_to_end_on_an_embedded_server(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tradewire.consumers.cli",
            "demo",
            "--bots",
            "2",
            "--rate",
            "100",
            "--duration",
            "2",
            "--out-dir",
            str(tmp_path),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "embedded nats-server" in proc.stdout
    assert "OK: every emitted event is in the stream and in DuckDB exactly once" in proc.stdout
    assert (tmp_path / "fleet.duckdb").exists()
    assert len(list((tmp_path / "reports").glob("daily_report_*.html"))) == 1
    # The alerts service ran too, and the store kept every change it published.
    m = re.search(r"alerts: (\d+) state change\(s\) published, (\d+) stored", proc.stdout)
    assert m and m.group(1) == m.group(2), proc.stdout


def test_every_kind_has_a_readable_line() -> None:
    from tradewire.consumers.simulate import BotModel
    from tradewire.schemas import KINDS, kind_of

    model = BotModel("b-1", 3)
    latest = {kind_of(e): e for _ in range(3000) for e in model.cycle()}
    assert set(latest) == set(KINDS)
    for kind, ev in latest.items():
        ev.bot, ev.ts = "b-1", 1.7e9
        line = describe(ev)
        assert line.split(kind, 1)[1].strip(), (kind, line)
