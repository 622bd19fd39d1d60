"""A simulated fleet of trading bots (``tradewire simulate``)."""

from ._incidents import ROLE_SUMMARY, ROLES, IncidentModel
from ._injected import Incident, active_incidents
from ._model import BotModel, FaultRates, PositionBook
from ._runner import (
    SCENARIOS,
    Progress,
    SimulationConfig,
    SimulationResult,
    print_progress,
    run_simulation,
)

__all__ = [
    "ROLES",
    "ROLE_SUMMARY",
    "SCENARIOS",
    "BotModel",
    "FaultRates",
    "Incident",
    "IncidentModel",
    "PositionBook",
    "Progress",
    "SimulationConfig",
    "SimulationResult",
    "active_incidents",
    "print_progress",
    "run_simulation",
]
