"""The metrics service: fleet events as Prometheus metrics, computed live."""

from ._aggregator import Aggregator, Limits
from ._config import MetricsConfig, load_metrics_config
from ._service import MetricsService

__all__ = ["Aggregator", "Limits", "MetricsConfig", "MetricsService", "load_metrics_config"]
