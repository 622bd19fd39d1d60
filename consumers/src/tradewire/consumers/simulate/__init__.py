"""A simulated fleet of trading bots (``tradewire simulate``)."""

from ._incidents import Incident, active_incidents
from ._model import BotModel, FaultRates, PositionBook
from ._runner import (
    Progress,
    SimulationConfig,
    SimulationResult,
    print_progress,
    run_simulation,
)

__all__ = [
    "BotModel",
    "FaultRates",
    "Incident",
    "PositionBook",
    "Progress",
    "SimulationConfig",
    "SimulationResult",
    "active_incidents",
    "print_progress",
    "run_simulation",
]
