"""What every tradewire service shares: the pull loop, and health over HTTP."""

from ._config import ConfigError, load_config
from ._delivery import Delivery, parse_ack_subject
from ._health import Check, Health, HealthServer, Route
from ._history import read_history
from ._kv import KeyWatch, read_prefix
from ._pull import Acks, BatchHandler, ConsumerSettings, PullConsumer
from ._service import ConsumerService, ServiceConfig

__all__ = [
    "Acks",
    "BatchHandler",
    "Check",
    "ConfigError",
    "ConsumerService",
    "ConsumerSettings",
    "Delivery",
    "Health",
    "HealthServer",
    "KeyWatch",
    "PullConsumer",
    "Route",
    "ServiceConfig",
    "load_config",
    "parse_ack_subject",
    "read_history",
    "read_prefix",
]
