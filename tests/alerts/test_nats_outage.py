"""The alerts service while NATS is away: pages go out at once, and the state changes of
the outage reach the alerts stream, each once, when NATS is back.

Found by benchmarks/soak.py (nats-server restarted under a 200-bot fleet): each change was
published before it was notified, one at a time, each waiting up to the JetStream timeout
(5 s) while NATS was away, so pages waited 5 s per change; and once nats-py's outgoing
buffer was full, changes were logged as failed and never published."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import nats
import pytest

from tests.http_capture import Capture, capture
from tests.waiting import wait_until
from tradewire.consumers.alerts import AlertsConfig, AlertsService
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.publisher import Publisher
from tradewire.schemas import AlertChange, Subjects

pytestmark = pytest.mark.nats

SYMBOLS = [f"S{i:02d}" for i in range(20)]


@pytest.fixture
def receiver() -> Iterator[Capture]:
    yield from capture()


def rules(tmp_path: Path, url: str) -> Path:
    f = tmp_path / "rules.yaml"
    f.write_text(f"""
rules:
  - name: NoMark
    kind: absence
    event: mark
    per: [symbol]
    critical: 5
    summary: No mark for a symbol
    runbook: docs/runbooks.md#marketdatastale
receivers:
  - name: hook
    type: webhook
    url: {url}
""")
    return f


async def test_pages_go_out_while_nats_is_down_and_changes_are_published_after(
    nats_server: EmbeddedNats, receiver: Capture, tmp_path: Path
) -> None:
    svc = AlertsService(
        AlertsConfig(
            nats_url=nats_server.url,
            http_port=0,
            rules=str(rules(tmp_path, receiver.url + "/hook")),
            tick_s=0.1,
        )
    )
    task = await svc.start(20)
    try:
        async with Publisher(
            "bot-q", url=nats_server.url, outbox_dir=tmp_path / "o", heartbeat_interval_s=0
        ) as tel:
            for symbol in SYMBOLS:
                tel.mark(symbol=symbol, price=1.0)
            assert await tel.flush(10)
        await wait_until(
            lambda: "bot-q" in svc.engine.bots and svc.engine.bots["bot-q"].live, what="live"
        )
        nats_server.stop()
        assert not svc.engine.firing()
        # 5 s without marks fire 20 alerts on our clock while NATS is away. The page
        # must not wait for NATS (it took 20 x 5 s: one JetStream timeout per change).
        await wait_until(lambda: receiver.bodies, timeout=20, what="the page")
        assert [len(b["alerts"]) for b in receiver.bodies] == [len(SYMBOLS)]
        assert all(a["state"] == "firing" for a in receiver.bodies[0]["alerts"])
        nats_server.start()
        nc = await nats.connect(nats_server.url)
        try:
            js = nc.jetstream()
            stream = Subjects().alerts_stream

            async def stored() -> int:
                return int((await js.stream_info(stream)).state.messages)

            await wait_until(
                lambda: stored() if svc.published["firing"] == len(SYMBOLS) else 0,
                timeout=30,
                what="every change published",
            )
            assert await stored() == len(SYMBOLS)  # each once, however often it was tried
            sub = await js.subscribe(Subjects().alert("bot-q", "NoMark"), ordered_consumer=True)
            got = [msgspec.json.decode((await sub.next_msg(5)).data, type=AlertChange)]
            got += [
                msgspec.json.decode((await sub.next_msg(5)).data, type=AlertChange)
                for _ in SYMBOLS[1:]
            ]
            assert sorted(c.labels["symbol"] for c in got) == SYMBOLS
            assert {(c.state, c.severity) for c in got} == {("firing", "critical")}
        finally:
            await nc.close()
    finally:
        svc.stop()
        assert await task == 0
