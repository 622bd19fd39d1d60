"""The store service: JetStream events into DuckDB, exactly once, plus read-only SQL."""

from ._config import ConfigError, StoreConfig, load_store_config
from ._service import StoreService
from ._sql import (
    MAX_LIMIT,
    QueryError,
    QueryResult,
    ReadOnlyQuery,
    SqlRequest,
    check_read_only,
    run_query,
)
from ._tables import TABLES
from ._writer import Problem, Refused, StoreWriter, WriteResult

__all__ = [
    "MAX_LIMIT",
    "TABLES",
    "ConfigError",
    "Problem",
    "QueryError",
    "QueryResult",
    "ReadOnlyQuery",
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
