"""What every tradewire service shares: the pull loop, NATS, supervision, health and metrics."""

from ._config import SHARED, ConfigError, SecuritySettings, env_name, load_config
from ._connection import Backoff, NatsLink, check_url, describe, redact_url
from ._delivery import Delivery, parse_ack_subject
from ._families import (
    DEFAULT_BUCKETS,
    Computed,
    Family,
    Frozen,
    Histogram,
    Kind,
    Labels,
    Registry,
    exposition,
    per_label,
    scalar,
)
from ._group import ConsumerGroup
from ._health import MAX_BODY, Check, Health, HealthServer, Request, Route, accepts_gzip
from ._history import read_history
from ._kv import KeyWatch, read_prefix
from ._partition import MAX_INSTANCES, Partition, ServiceSettings, fnv1a_32, slot_of
from ._pipeline import PipelineMetrics
from ._pull import Acks, BatchHandler, ConsumerSettings, PullConsumer
from ._service import OPENMETRICS, TEXT, ConsumerService, ServiceConfig
from ._web import OPEN_ROUTES, WebConfig, load_web_config

__all__ = [
    "DEFAULT_BUCKETS",
    "MAX_BODY",
    "MAX_INSTANCES",
    "OPENMETRICS",
    "OPEN_ROUTES",
    "SHARED",
    "TEXT",
    "Acks",
    "Backoff",
    "BatchHandler",
    "Check",
    "Computed",
    "ConfigError",
    "ConsumerGroup",
    "ConsumerService",
    "ConsumerSettings",
    "Delivery",
    "Family",
    "Frozen",
    "Health",
    "HealthServer",
    "Histogram",
    "KeyWatch",
    "Kind",
    "Labels",
    "NatsLink",
    "Partition",
    "PipelineMetrics",
    "PullConsumer",
    "Registry",
    "Request",
    "Route",
    "SecuritySettings",
    "ServiceConfig",
    "ServiceSettings",
    "WebConfig",
    "accepts_gzip",
    "check_url",
    "describe",
    "env_name",
    "exposition",
    "fnv1a_32",
    "load_config",
    "load_web_config",
    "parse_ack_subject",
    "per_label",
    "read_history",
    "read_prefix",
    "redact_url",
    "scalar",
    "slot_of",
]
