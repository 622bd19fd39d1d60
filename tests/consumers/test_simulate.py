"""The fleet simulator: deterministic, internally consistent, and lossless end to end."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import msgspec
import pytest
from nats.aio.client import Client

from tests.helpers import stream_ids
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.simulate import (
    BotModel,
    FaultRates,
    PositionBook,
    SimulationConfig,
    run_simulation,
)
from tradewire.schemas import KINDS, Account, Fill, Guard, Order, Subjects, kind_of, validate

ENV = {"id": "x", "bot": "b", "run": "r", "seq": 1, "ts": 1.0}


def run_model(bot: str, seed: int, cycles: int) -> list[bytes]:
    model = BotModel(bot, seed)
    return [msgspec.json.encode(e) for _ in range(cycles) for e in model.cycle()]


def test_same_seed_same_events_other_seed_differs() -> None:
    assert run_model("b-1", 7, 300) == run_model("b-1", 7, 300)
    assert run_model("b-1", 7, 300) != run_model("b-1", 8, 300)
    assert run_model("b-1", 7, 300) != run_model("b-2", 7, 300)


def test_position_book_realizes_hand_computed_pnl() -> None:
    book = PositionBook()
    assert book.apply("buy", 2.0, 100.0) == 0.0
    assert book.apply("buy", 2.0, 110.0) == 0.0  # entry averages to 105
    assert book.entry == pytest.approx(105.0)
    assert book.apply("sell", 1.0, 120.0) == pytest.approx(15.0)  # (120-105)*1
    assert book.apply("sell", 5.0, 100.0) == pytest.approx(-15.0)  # closes 3 at -5, opens short 2
    assert book.qty == pytest.approx(-2.0) and book.entry == pytest.approx(100.0)
    assert book.apply("buy", 2.0, 90.0) == pytest.approx(20.0)  # short 2 from 100 covered at 90
    assert book.qty == 0.0


def test_model_numbers_are_consistent() -> None:
    model = BotModel("b-1", 3)
    events = [e for _ in range(3000) for e in model.cycle()]
    kinds = Counter(kind_of(e) for e in events)
    assert set(kinds) == set(KINDS), set(KINDS) - set(kinds)
    for e in events:
        for k, v in ENV.items():
            setattr(e, k, v)
        validate(e)  # every simulated event is valid on the wire
    fills = [e for e in events if isinstance(e, Fill)]
    accounts = [e for e in events if isinstance(e, Account)]
    # The last snapshot's realized PnL and fees are the sums over the fills before it.
    last = max(i for i, e in enumerate(events) if isinstance(e, Account))
    before = [e for e in events[:last] if isinstance(e, Fill)]
    assert accounts[-1].realized_pnl == pytest.approx(sum(f.realized_pnl for f in before))
    assert accounts[-1].fees == pytest.approx(sum(f.fee for f in before))
    assert any(f.realized_pnl != 0 for f in fills)
    snap = accounts[-1]
    assert snap.equity == pytest.approx(
        10_000 + snap.realized_pnl - snap.fees + sum(p.unrealized_pnl for p in snap.positions)
    )
    for p in snap.positions:
        assert p.notional == pytest.approx(p.qty * p.mark_price)
    statuses = Counter(e.status for e in events if isinstance(e, Order))
    assert statuses["rejected"] and statuses["partially_filled"] and statuses["filled"]
    assert all(
        e.reason != "none" for e in events if isinstance(e, Order) and e.status == "rejected"
    )
    assert any(isinstance(e, Guard) and e.action == "tripped" for e in events)


def test_fault_rates_change_the_mix() -> None:
    quiet = BotModel(
        "b",
        1,
        FaultRates(
            order=0.0, guard_trip=0.0, ws_reconnect=0.0, cycle_error=0.0, data_quality_issue=0.0
        ),
    )
    kinds = Counter(kind_of(e) for _ in range(500) for e in quiet.cycle())
    assert not kinds["order"] and not kinds["guard"] and not kinds["ws"] and not kinds["error"]


@pytest.mark.nats
async def test_simulated_fleet_lands_in_stream_exactly_once(
    nats_server: EmbeddedNats, nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    config = SimulationConfig(bots=3, rate=400, duration=2.0, seed=5)
    result = await run_simulation(nats_server.url, config, tmp_path, keep_ids=True)
    assert result.emitted == result.acked == len(result.ids) > 1000
    assert result.dropped == result.rejected == result.in_outbox == 0
    stored = await stream_ids(nc, subjects)
    assert set(stored) == result.ids and max(stored.values()) == 1


@pytest.mark.parametrize(
    "kw",
    [
        {"bots": 0},
        {"rate": 0},
        {"rate": -1},
        {"duration": -1},
        {"scenario": "chaos"},
        {"scenario": "incidents", "bots": 4},  # four in trouble and none calm
    ],
)
def test_bad_simulation_config(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        SimulationConfig(**kw)  # type: ignore[arg-type]


def test_incident_roles_go_to_the_first_bots() -> None:
    config = SimulationConfig(bots=6, scenario="incidents")
    assert config.roles() == {
        "sim-bot-1": "risk",
        "sim-bot-2": "broker",
        "sim-bot-3": "feed",
        "sim-bot-4": "halted",
    }
    models = config.models()
    assert [type(m).__name__ for m in models] == ["IncidentModel"] * 4 + ["BotModel"] * 2
    assert SimulationConfig(bots=6).roles() == {}
