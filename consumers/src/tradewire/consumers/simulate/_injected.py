"""Incidents injected into a simulated run (``--incident``), one at a time: a bot's
drawdown past the Drawdown rule's critical line, its circuit breaker held open, or the
bot falling silent, each from one moment of the run to another. Alert routing can then
be checked end to end: each incident should page exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["INCIDENT_DRAWDOWN_PCT", "Incident", "IncidentKind", "active_incidents"]

IncidentKind = Literal["drawdown", "breaker_open", "silent"]
INCIDENT_DRAWDOWN_PCT = 20.0  # the drawdown a bot reports during a drawdown incident


@dataclass(frozen=True, kw_only=True)
class Incident:
    """``kind`` on ``bot`` from ``start_s`` to ``end_s`` seconds into the run (None: to
    the end)."""

    kind: IncidentKind
    bot: str
    start_s: float
    end_s: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in get_args(IncidentKind):
            raise ValueError(f"incident {self.kind!r}: one of {', '.join(get_args(IncidentKind))}")
        if self.start_s < 0 or (self.end_s is not None and self.end_s <= self.start_s):
            raise ValueError(f"incident {self.kind} on {self.bot}: start >= 0 and end > start")

    def active(self, elapsed: float) -> bool:
        return self.start_s <= elapsed and (self.end_s is None or elapsed < self.end_s)

    @classmethod
    def parse(cls, text: str) -> Incident:
        """``KIND:BOT:START[:END]`` with times in seconds, e.g. ``silent:sim-bot-3:60``."""
        parts = text.split(":")
        if len(parts) not in (3, 4):
            raise ValueError(f"incident {text!r}: use KIND:BOT:START[:END], e.g. silent:bot-3:60")
        try:
            times = [float(x) for x in parts[2:]]
        except ValueError:
            raise ValueError(f"incident {text!r}: START and END are seconds") from None
        kind = parts[0]
        return cls(
            kind=kind,  # type: ignore[arg-type]  # checked in __post_init__
            bot=parts[1],
            start_s=times[0],
            end_s=times[1] if len(times) == 2 else None,
        )


def active_incidents(
    incidents: tuple[Incident, ...], bot: str, elapsed: float
) -> set[IncidentKind]:
    """The kinds of incident ``bot`` has ``elapsed`` seconds into the run."""
    return {x.kind for x in incidents if x.bot == bot and x.active(elapsed)}
