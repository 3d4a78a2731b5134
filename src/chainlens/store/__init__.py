"""The chainlens store: an embedded DuckDB catalog over Parquet partitions.

Idempotent (content hash), atomic (stage, validate, publish in one transaction) and locked.
See :class:`Store` for the layout, the guarantees and the default-snapshot rule.
"""

from __future__ import annotations

from chainlens.store._reading import names_filter
from chainlens.store._stage import stage_results_file
from chainlens.store._store import (
    FileBlocks,
    IngestResult,
    ProgressFn,
    StagedFile,
    Store,
    expand_paths,
    read_partition,
    read_partition_rows,
)

__all__ = [
    "FileBlocks",
    "IngestResult",
    "ProgressFn",
    "StagedFile",
    "Store",
    "expand_paths",
    "names_filter",
    "read_partition",
    "read_partition_rows",
    "stage_results_file",
]
