"""The store service: JetStream events into DuckDB, exactly once, plus read-only SQL."""

from ._config import ConfigError, StoreConfig, load_store_config
from ._service import StoreService
from ._sql import QueryError, QueryResult, SqlRequest, check_read_only, run_query
from ._tables import TABLES
from ._writer import Problem, Refused, StoreWriter, WriteResult

__all__ = [
    "TABLES",
    "ConfigError",
    "Problem",
    "QueryError",
    "QueryResult",
    "Refused",
    "SqlRequest",
    "StoreConfig",
    "StoreService",
    "StoreWriter",
    "WriteResult",
    "check_read_only",
    "load_store_config",
    "run_query",
]
