"""The hostile corpus, sent raw into a running store and metrics service on one nats-server.

Every case is followed by a valid event from another bot (its neighbour, in the same
batch). Services are started once; the module fixture sends everything, waits until
both consumers have acked it all, takes what the services hold and stops them. Each
case is then checked on its own: stored once, or quarantined once with its reason, or
refused by the stream; and the neighbours, health counts and /metrics are checked too.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import re
import shutil
import subprocess
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest
from nats.aio.client import Client

from tests.conftest import need_external
from tests.hostile.corpus import DUPLICATE, REJECTED, STORED, WARMUP_ID, Case, build
from tests.waiting import wait_until
from tradewire.consumers.embedded import EmbeddedNats, NatsServerNotFound, find_nats_server
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.consumers.runtime import ConsumerService
from tradewire.consumers.store import StoreConfig, StoreService
from tradewire.schemas import Mark, Subjects, encode

pytestmark = pytest.mark.nats

SUBJECTS = Subjects()
MAX_LABEL_VALUES = 20
MAX_BOTS = 100
LABEL_FLOOD = 150  # distinct symbols from one bot
BOT_FLOOD = 300  # new bots, one heartbeat each


@dataclass
class Sent:
    case: Case
    ack: dict[str, Any]  # JetStream's reply to the publish: {"seq": ...} or {"error": ...}


@dataclass
class Outcome:
    sent: list[Sent]
    neighbours: set[str]
    flood_bots: list[str]
    caught_up: bool = False
    running_after: dict[str, bool] = field(default_factory=dict)
    exit_codes: dict[str, int] = field(default_factory=dict)
    events: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # id -> (kind, bot)
    quarantine: dict[int, list[str]] = field(default_factory=dict)  # stream seq -> reasons
    store_health: dict[str, Any] = field(default_factory=dict)
    metrics_code: int = 0
    metrics_text: bytes = b""
    live: dict[str, int] = field(default_factory=dict)

    def by_name(self, name: str) -> Sent:
        return next(s for s in self.sent if s.case.name == name)


def http_get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, http.client.HTTPException) as e:  # the service broke the connection
        return 0, repr(e).encode()


async def publish(nc: Client, subject: str, data: bytes, headers: dict[str, str]) -> Any:
    """Publish raw bytes to the stream and return JetStream's reply, as sent."""
    reply = await nc.request(subject, data, timeout=10, headers=headers or None)
    return json.loads(reply.data)


async def caught_up(service: ConsumerService) -> bool:
    assert service.nc is not None
    info = await service.nc.jetstream().consumer_info(
        SUBJECTS.events_stream, service.service_config.durable
    )
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


async def scenario(url: str, db: Path) -> Outcome:
    store = StoreService(StoreConfig(nats_url=url, db=str(db), http_port=0, max_wait_s=0.2))
    metrics = MetricsService(
        MetricsConfig(
            nats_url=url, http_port=0, max_label_values=MAX_LABEL_VALUES, max_bots=MAX_BOTS
        )
    )
    tasks = {"store": await store.start(20), "metrics": await metrics.start(20)}
    nc = await nats.connect(url)
    try:
        warm = Mark(symbol="X", price=1.0, id=WARMUP_ID, bot="warmup", run="w", seq=1, ts=1.7e9)
        await publish(nc, SUBJECTS.event("warmup", "mark"), encode(warm), {})
        await wait_until(lambda: store.stored == 1, what="the warm-up mark stored")

        now = time.time()
        out = Outcome([], set(), [])
        for i, case in enumerate(build(now)):
            out.sent.append(Sent(case, await publish(nc, case.subject, case.data, case.headers)))
            n = Mark(symbol="N", price=1.0, id=f"n-{i}", bot="neighbour", run="n", seq=i + 1,
                     ts=now)  # fmt: skip
            await publish(nc, SUBJECTS.event("neighbour", "mark"), encode(n), {})
            out.neighbours.add(n.id)
        for i in range(LABEL_FLOOD):
            m = Mark(symbol=f"S{i}", price=1.0, id=f"lf-{i}", bot="label-flood", run="lf",
                     seq=i + 1, ts=now)  # fmt: skip
            await publish(nc, SUBJECTS.event("label-flood", "mark"), encode(m), {})
        for i in range(BOT_FLOOD):
            bot = f"bot-flood-{i}"
            hb = msgspec.json.encode(
                {"kind": "heartbeat", "id": f"bf-{i}", "bot": bot, "run": "bf", "seq": 1, "ts": now}
            )
            await publish(nc, SUBJECTS.event(bot, "heartbeat"), hb, {})
            out.flood_bots.append(bot)

        try:
            await wait_until(
                lambda: _both(caught_up(store), caught_up(metrics)),
                timeout=20,
                what="store and metrics acked everything",
            )
            out.caught_up = True
        except AssertionError:
            out.caught_up = False  # reported by its own test; the rest is still checked
        out.running_after = {name: not t.done() for name, t in tasks.items()}
        assert store.writer is not None
        cur = store.writer.con.cursor()
        try:
            for event_id, kind, bot in cur.execute("SELECT id, kind, bot FROM events").fetchall():
                out.events.setdefault(event_id, []).append((kind, bot))
            for seq, reason in cur.execute("SELECT stream_seq, reason FROM quarantine").fetchall():
                out.quarantine.setdefault(int(seq), []).append(reason)
        finally:
            cur.close()
        assert store.http is not None and metrics.http is not None
        out.live = {
            "store": (await asyncio.to_thread(http_get, store.http.port, "/live"))[0],
            "metrics": (await asyncio.to_thread(http_get, metrics.http.port, "/live"))[0],
        }
        _, body = await asyncio.to_thread(http_get, store.http.port, "/health")
        out.store_health = json.loads(body)
        out.metrics_code, out.metrics_text = await asyncio.to_thread(
            http_get, metrics.http.port, "/metrics"
        )
    finally:
        await nc.close()
        for service in (store, metrics):
            service.stop()
        for name, task in tasks.items():
            out.exit_codes[name] = await asyncio.wait_for(task, 20)
    return out


async def _both(*checks: Any) -> bool:
    return all(await asyncio.gather(*checks))


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    try:
        find_nats_server()
    except NatsServerNotFound as exc:
        need_external("nats-server", str(exc))
    with EmbeddedNats() as server:
        db = tmp_path_factory.mktemp("hostile") / "store.duckdb"
        return asyncio.run(scenario(server.url, db))


NAMES = [c.name for c in build(0.0)]


def test_the_corpus_is_big_and_covers_every_outcome() -> None:
    cases = build(0.0)
    assert len(cases) >= 60 and len(set(NAMES)) == len(NAMES)
    assert {c.expect for c in cases} >= {
        STORED, DUPLICATE, REJECTED, "malformed", "invalid", "too_large", "unstamped",
        "unsupported_version", "bot_mismatch", "kind_mismatch", "bad_subject", "clock_skew",
        "duplicate_id",
    }  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_case(outcome: Outcome, name: str) -> None:
    sent = outcome.by_name(name)
    case, ack = sent.case, sent.ack
    rows = outcome.events.get(case.event_id, [])
    if case.expect == REJECTED:
        assert "error" in ack or ack.get("duplicate"), ack
        assert (case.kind, case.bot) not in rows
        return
    assert "error" not in ack and not ack.get("duplicate"), ack
    quarantined = outcome.quarantine.get(ack["seq"], [])
    if case.expect in (STORED, DUPLICATE):
        assert quarantined == []
        assert rows == [(case.kind, case.bot)], f"stored as {rows}"
    else:
        assert quarantined == [case.expect], f"quarantined as {quarantined}, stored as {rows}"
        if case.expect == "duplicate_id":  # the first event with the id is stored, once
            assert len(rows) == 1 and rows[0][0] != case.kind, rows
        elif case.event_id:
            assert (case.kind, case.bot) not in rows


def test_every_neighbour_is_stored_once(outcome: Outcome) -> None:
    stored = {i for i, rows in outcome.events.items() if rows == [("mark", "neighbour")]}
    assert stored == outcome.neighbours


def test_services_stay_up_ack_everything_and_stop_cleanly(outcome: Outcome) -> None:
    assert outcome.caught_up, "messages left unacked (redelivered forever)"
    assert outcome.running_after == {"store": True, "metrics": True}
    assert outcome.live == {"store": 200, "metrics": 200}
    assert outcome.exit_codes == {"store": 0, "metrics": 0}


def test_store_counts_match_its_tables(outcome: Outcome) -> None:
    """What /health reports quarantined is what the table holds is what the corpus expects."""
    expected = Counter(
        s.case.expect for s in outcome.sent if s.case.expect not in (STORED, DUPLICATE, REJECTED)
    )
    table = Counter(r for reasons in outcome.quarantine.values() for r in reasons)
    details = outcome.store_health["checks"]["consumer"]["details"]
    assert table == expected
    assert Counter(details["quarantined"]) == expected
    assert details["stored"] == sum(len(rows) for rows in outcome.events.values())


# -- /metrics -------------------------------------------------------------------------------
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse(text: str) -> Samples:
    samples: Samples = defaultdict(list)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"unparsable line: {line!r}"
        name, labels, value = match.groups()
        samples[name].append((dict(_LABEL.findall(labels or "")), float(value)))
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for lab, v in samples.get(name, []) if labels.items() <= lab.items())


def test_metrics_pass_promtool(outcome: Outcome) -> None:
    assert outcome.metrics_code == 200, outcome.metrics_text[-2000:]
    promtool = shutil.which("promtool")
    if promtool is None:
        need_external("promtool", "install Debian's prometheus package")
    assert promtool is not None
    check = subprocess.run(
        [promtool, "check", "metrics"], input=outcome.metrics_text, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_metrics_agree_with_the_corpus(outcome: Outcome) -> None:
    assert outcome.metrics_code == 200
    m = parse(outcome.metrics_text.decode())
    p = "tradewire_"
    # Bots in the order the metrics service first sees a valid event of theirs.
    order: list[str] = ["warmup"]
    valid_ids: list[tuple[str, str]] = [("warmup", WARMUP_ID)]
    duplicates = 0
    refused: Counter[str] = Counter()
    for i, s in enumerate(outcome.sent):
        case = s.case
        if case.expect in (STORED, DUPLICATE, "duplicate_id"):
            order.append(case.bot)
            if case.expect == STORED:
                valid_ids.append((case.bot, case.event_id))
            else:
                duplicates += 1  # the metrics service drops a seen id whatever its kind
        elif case.expect != REJECTED:
            refused[case.expect] += 1
        order.append("neighbour")
        valid_ids.append(("neighbour", f"n-{i}"))
    order.append("label-flood")
    valid_ids += [("label-flood", f"lf-{i}") for i in range(LABEL_FLOOD)]
    room = MAX_BOTS - len(set(order))  # a bot counts from its first valid event, even a dup
    valid_ids += [(b, f"bf-{i}") for i, b in enumerate(outcome.flood_bots[:room])]
    refused["too_many_bots"] = BOT_FLOOD - room

    assert total(m, p + "pipeline_events_total") == len(valid_ids)
    assert {lab["bot"] for lab, _ in m[p + "pipeline_events_total"]} == {b for b, _ in valid_ids}
    assert total(m, p + "pipeline_duplicates_total") == duplicates
    assert {lab["reason"]: v for lab, v in m[p + "pipeline_quarantined_total"]} == refused
    # One bot's flood of symbols stops at its own cap.
    symbols = {lab["symbol"] for lab, _ in m[p + "market_data_staleness_seconds"]
               if lab["bot"] == "label-flood"}  # fmt: skip
    assert len(symbols) == MAX_LABEL_VALUES + 1 and "other" in symbols
    overflow = LABEL_FLOOD - MAX_LABEL_VALUES
    assert total(m, p + "pipeline_label_overflow_total", bot="label-flood") == overflow
    # A refused heartbeat from the future gives its bot no liveness at all.
    skewed = outcome.by_name("heartbeat in year 3000").case.bot
    assert not [lab for lab, _ in m[p + "bot_up"] if lab["bot"] == skewed]
    ahead = outcome.by_name("heartbeat 200 s ahead").case.bot
    assert [v for lab, v in m[p + "heartbeat_age_seconds"] if lab["bot"] == ahead] != []


def test_metrics_are_consistent(outcome: Outcome) -> None:
    assert outcome.metrics_code == 200
    m = parse(outcome.metrics_text.decode())
    for name, samples in m.items():
        for labels, value in samples:
            assert not math.isnan(value), (name, labels)
            if name.endswith(("_total", "_seconds", "_count", "_bucket")) or "age" in name:
                assert value >= 0, (name, labels, value)
    # Histograms: cumulative buckets, +Inf equal to _count.
    buckets: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, float]]] = defaultdict(
        list
    )
    for name, samples in m.items():
        if name.endswith("_bucket"):
            for labels, value in samples:
                le = float(labels.pop("le"))
                buckets[(name[: -len("_bucket")], tuple(sorted(labels.items())))].append(
                    (le, value)
                )
    assert buckets
    for (base, key), series in buckets.items():
        counts = [v for _, v in sorted(series)]
        assert counts == sorted(counts), (base, key)
        count = [v for lab, v in m[base + "_count"] if tuple(sorted(lab.items())) == key]
        assert count == [counts[-1]], (base, key)
