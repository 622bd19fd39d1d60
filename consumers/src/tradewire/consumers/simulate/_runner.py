"""Run a simulated fleet: one :class:`Publisher` (and NATS connection) per bot."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tradewire.publisher import NatsAuth, Publisher, PublisherConfig
from tradewire.schemas import DEFAULT_ROOT, Subjects, kind_of

from ._incidents import ROLES, IncidentModel, Role
from ._injected import Incident, active_incidents
from ._model import BotModel, FaultRates

__all__ = [
    "SCENARIOS",
    "Progress",
    "SimulationConfig",
    "SimulationResult",
    "print_progress",
    "run_simulation",
]

_TICK_S = 0.02
# calm: every bot runs with the fault rates. incidents: the first bots each play one
# incident (simulate/_incidents.py), the others stay calm.
SCENARIOS = ("calm", "incidents")


@dataclass(frozen=True, kw_only=True)
class SimulationConfig:
    bots: int = 5
    rate: float = 50.0  # events per second per bot
    duration: float = 10.0  # seconds; 0 runs until stop is set
    seed: int = 1
    bot_prefix: str = "sim-bot"
    faults: FaultRates = field(default_factory=FaultRates)
    root: str = DEFAULT_ROOT  # the subject root the bots publish under
    scenario: str = "calm"
    incidents: tuple[Incident, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.bots <= 10_000:
            raise ValueError("bots must be between 1 and 10000")
        if not 0 < self.rate <= 100_000:
            raise ValueError("rate must be > 0 and <= 100000 events/s per bot")
        if self.duration < 0:
            raise ValueError("duration must be >= 0")
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}: {self.scenario!r}")
        if self.scenario == "incidents" and self.bots <= len(ROLES):
            raise ValueError(
                f"the incidents scenario must be given {len(ROLES) + 1} bots or more "
                f"({len(ROLES)} in trouble, the rest calm): bots {self.bots}"
            )
        Subjects(self.root)  # raises on a bad root
        unknown = sorted({i.bot for i in self.incidents} - set(self.bot_ids()))
        if unknown:
            raise ValueError(
                f"incident on unknown bot(s) {', '.join(unknown)}: the fleet is "
                f"{self.bot_ids()[0]} .. {self.bot_ids()[-1]}"
            )

    def bot_ids(self) -> list[str]:
        width = len(str(self.bots))
        return [f"{self.bot_prefix}-{i:0{width}d}" for i in range(1, self.bots + 1)]

    def roles(self) -> dict[str, Role]:
        """Bot id -> the incident it plays (``incidents`` scenario; the rest are calm)."""
        if self.scenario != "incidents":
            return {}
        return dict(zip(self.bot_ids(), ROLES, strict=False))

    def models(self) -> list[BotModel]:
        roles = self.roles()
        return [
            IncidentModel(bot, self.seed, self.faults, role=roles[bot])
            if bot in roles
            else BotModel(bot, self.seed, self.faults)
            for bot in self.bot_ids()
        ]


@dataclass(frozen=True)
class Progress:
    elapsed: float
    emitted: int
    acked: int
    buffered: int
    in_outbox: int
    dropped: int


@dataclass
class SimulationResult:
    bots: list[str]
    elapsed: float = 0.0
    emitted: int = 0
    acked: int = 0
    in_outbox: int = 0
    dropped: int = 0
    rejected: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    runs: dict[str, str] = field(default_factory=dict)  # bot -> run id of its publisher
    ids: set[str] = field(default_factory=set)


def print_progress(p: Progress) -> None:
    """One progress line on stderr, as ``simulate`` and ``demo`` show it each second."""
    print(
        f"[{p.elapsed:6.1f}s] emitted {p.emitted:,}  acked {p.acked:,}  "
        f"buffered {p.buffered:,}  outbox {p.in_outbox:,}  dropped {p.dropped:,}",
        file=sys.stderr,
    )


def _progress(pubs: list[Publisher], elapsed: float) -> Progress:
    stats = [p.stats() for p in pubs]
    return Progress(
        elapsed,
        sum(s.emitted for s in stats),
        sum(s.acked for s in stats),
        sum(s.buffered for s in stats),
        sum(s.in_outbox for s in stats),
        sum(s.dropped for s in stats),
    )


async def run_simulation(
    url: str,
    config: SimulationConfig,
    outbox_root: Path,
    *,
    progress: Callable[[Progress], None] | None = None,
    stop: asyncio.Event | None = None,
    keep_ids: bool = False,
    auth: NatsAuth | None = None,
) -> SimulationResult:
    """Emit the fleet's events at ``rate`` per bot for ``duration`` s, then flush and close.

    ``auth``: every simulated bot's credential (default: the environment's).
    """
    ids = config.bot_ids()
    models = config.models()
    # The model sends its own heartbeats and lifecycle events (deterministic per seed).
    pub_config = PublisherConfig(
        url=url, root=config.root, heartbeat_interval_s=0, lifecycle_events=False, auth=auth
    )
    pubs = [await Publisher(bot, pub_config, outbox_dir=outbox_root / bot).start() for bot in ids]
    result = SimulationResult(ids, runs={p.bot: p.run for p in pubs})
    emitted = [0] * len(models)
    start = time.monotonic()
    next_report = start + 1.0
    while True:
        now = time.monotonic()
        elapsed = now - start
        if (config.duration and elapsed >= config.duration) or (stop and stop.is_set()):
            break
        target = config.rate * elapsed
        for i, (model, pub) in enumerate(zip(models, pubs, strict=True)):
            model.incidents = active_incidents(config.incidents, model.bot, elapsed)
            if "silent" in model.incidents:
                emitted[i] = int(target)  # sends nothing now, and no burst after
                continue
            while emitted[i] < target:
                events = model.cycle()
                if not events:
                    break  # a bot with nothing to say (the halted one): try next tick
                for event in events:
                    pub.emit(event)
                    emitted[i] += 1
                    result.by_kind[kind_of(event)] += 1
                    if keep_ids:
                        result.ids.add(event.id)
        if progress and now >= next_report:
            next_report += 1.0
            progress(_progress(pubs, elapsed))
        await asyncio.sleep(_TICK_S)
    result.elapsed = time.monotonic() - start
    await asyncio.gather(*(p.flush(30.0) for p in pubs))
    for pub in pubs:
        stats = await pub.close()
        result.emitted += stats.emitted
        result.acked += stats.acked
        result.in_outbox += stats.in_outbox
        result.dropped += stats.dropped
        result.rejected += stats.rejected
    if progress:
        progress(_progress(pubs, result.elapsed))
    return result
