"""The fleet console: a live page served by the metrics service at ``/`` (docs/console.md)."""

from ._console import MAX_SILENCE_S, Console, SilenceForm
from ._fleet import COLUMNS, FleetView, bot_status
from ._history import SERIES, BotHistory, History
from ._reports import Reports

__all__ = [
    "COLUMNS",
    "MAX_SILENCE_S",
    "SERIES",
    "BotHistory",
    "Console",
    "FleetView",
    "History",
    "Reports",
    "SilenceForm",
    "bot_status",
]
