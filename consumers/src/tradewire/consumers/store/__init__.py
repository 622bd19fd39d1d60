"""The store service: JetStream events into DuckDB, exactly once, plus read-only SQL."""

from ._config import ConfigError, StoreConfig, load_store_config
from ._files import PARTITIONS_VIEW, open_files, store_files
from ._partition import (
    PARTITION_TABLE,
    StorePartition,
    check_complete,
    discovery_subject,
    partition_subject,
    read_partition,
)
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
    "PARTITIONS_VIEW",
    "PARTITION_TABLE",
    "TABLES",
    "ConfigError",
    "Problem",
    "QueryError",
    "QueryResult",
    "ReadOnlyQuery",
    "Refused",
    "SqlRequest",
    "StoreConfig",
    "StorePartition",
    "StoreService",
    "StoreWriter",
    "WriteResult",
    "check_complete",
    "check_read_only",
    "discovery_subject",
    "load_store_config",
    "open_files",
    "partition_subject",
    "read_partition",
    "run_query",
    "store_files",
]
