"""What every tradewire service shares: the pull loop, and health over HTTP."""

from ._config import ConfigError, load_config
from ._delivery import Delivery, parse_ack_subject
from ._health import Check, Health, HealthServer
from ._pull import Acks, BatchHandler, ConsumerSettings, PullConsumer

__all__ = [
    "Acks",
    "BatchHandler",
    "Check",
    "ConfigError",
    "ConsumerSettings",
    "Delivery",
    "Health",
    "HealthServer",
    "PullConsumer",
    "load_config",
    "parse_ack_subject",
]
