"""Bridges: live telemetry of bots that publish somewhere else, into tradewire.

``tradewire bridge traderagent`` subscribes to TRADERAGENT's Redis pub/sub events
(docs/importers.md, "TRADERAGENT bridge").
"""

from ._run import BridgeStats, run_traderagent_bridge
from ._traderagent import LOSS_KINDS, BotView, TraderAgentMapper, bot_id_of

__all__ = [
    "LOSS_KINDS",
    "BotView",
    "BridgeStats",
    "TraderAgentMapper",
    "bot_id_of",
    "run_traderagent_bridge",
]
