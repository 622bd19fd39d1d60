"""What every tradewire service shares: the pull loop, and health over HTTP."""

from ._config import SHARED, ConfigError, env_name, load_config
from ._delivery import Delivery, parse_ack_subject
from ._health import Check, Health, HealthServer, Route
from ._history import read_history
from ._pull import Acks, BatchHandler, ConsumerSettings, PullConsumer
from ._service import ConsumerService, ServiceConfig

__all__ = [
    "SHARED",
    "Acks",
    "BatchHandler",
    "Check",
    "ConfigError",
    "ConsumerService",
    "ConsumerSettings",
    "Delivery",
    "Health",
    "HealthServer",
    "PullConsumer",
    "Route",
    "ServiceConfig",
    "env_name",
    "load_config",
    "parse_ack_subject",
    "read_history",
]
