"""Importers and bridges: other bots' telemetry into tradewire.

``tradewire import gpt-trader`` reads GPT-Trader's ``events.db`` (once, or following it
live) or its JSONL logs; docs/importers.md has the mapping.
"""

from ._follow import FollowState, follow_events_db
from ._gpt_map import GptTraderMapper, MapState
from ._gpt_trader import GptTraderImport, ImportResult, TypeCounts
from ._source import SourceRow, parse_ts, read_events_db, read_events_jsonl

__all__ = [
    "FollowState",
    "GptTraderImport",
    "GptTraderMapper",
    "ImportResult",
    "MapState",
    "SourceRow",
    "TypeCounts",
    "follow_events_db",
    "parse_ts",
    "read_events_db",
    "read_events_jsonl",
]
