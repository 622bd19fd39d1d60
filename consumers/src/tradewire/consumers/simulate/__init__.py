"""A simulated fleet of trading bots (``tradewire simulate``)."""

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
    "PositionBook",
    "Progress",
    "SimulationConfig",
    "SimulationResult",
    "print_progress",
    "run_simulation",
]
