"""Importers: other bots' event logs into tradewire (``tradewire import``)."""

from ._gpt_trader import ImportResult, gpt_trader_events, read_events_db, read_events_jsonl

__all__ = ["ImportResult", "gpt_trader_events", "read_events_db", "read_events_jsonl"]
