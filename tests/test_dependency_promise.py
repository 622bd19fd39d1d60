"""A bot installs only tradewire-publisher: no duckdb, no prometheus-client, and it publishes.

Builds a fresh virtual environment with uv, installs the schemas and publisher
members from this checkout (their dependencies come from the package index or
uv's cache), and runs a bot in it against the test's nats-server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from nats.aio.client import Client
from uv import find_uv_bin

from tests.helpers import stream_ids
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.schemas import Subjects

pytestmark = [pytest.mark.nats, pytest.mark.slow]

ROOT = Path(__file__).parents[1]

BOT = textwrap.dedent("""
    import asyncio, importlib.util, sys
    from pathlib import Path
    for forbidden in ("duckdb", "prometheus_client", "tradewire.consumers", "pyarrow"):
        try:
            found = importlib.util.find_spec(forbidden) is not None
        except ModuleNotFoundError:
            found = False
        assert not found, forbidden + " is installed"
    from tradewire.publisher import Publisher

    async def main() -> None:
        async with Publisher("iso-bot", url=sys.argv[1], outbox_dir=Path(sys.argv[2]),
                             heartbeat_interval_s=0, lifecycle_events=False) as tel:
            ev = tel.order(symbol="BTC-USD", side="buy", status="filled", qty=1.0)
            assert await tel.flush(20)
            print(ev.id)
    asyncio.run(main())
""")


async def test_publisher_alone_installs_and_publishes(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    uv = shutil.which("uv") or find_uv_bin()
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--python",
            str(py),
            str(ROOT / "schemas"),
            str(ROOT / "publishers"),
        ],
        check=True,
    )
    listed = subprocess.run(
        [uv, "pip", "list", "--format", "json", "--python", str(py)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    names = {p["name"].lower() for p in json.loads(listed)}
    assert names == {"msgspec", "nats-py", "tradewire-publisher", "tradewire-schemas"}, names
    out = subprocess.run(
        [str(py), "-c", BOT, nats_server.url, str(tmp_path / "outbox")],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    event_id = out.stdout.strip()
    assert set(await stream_ids(nc, subjects)) == {event_id}
