"""The metrics service: fleet events as Prometheus metrics, computed live, under the
naming profiles (tradewire's own, and the seed bots') it is configured with."""

from ._aggregator import Aggregator, Limits
from ._config import MetricsConfig, load_metrics_config
from ._exposition import Exposition
from ._profiles import PROFILE_NAMES, PROFILES, Profile, resolve_profiles
from ._service import MetricsService

__all__ = [
    "PROFILES",
    "PROFILE_NAMES",
    "Aggregator",
    "Exposition",
    "Limits",
    "MetricsConfig",
    "MetricsService",
    "Profile",
    "load_metrics_config",
    "resolve_profiles",
]
