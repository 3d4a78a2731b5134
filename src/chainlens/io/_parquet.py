"""Canonical Parquet: a Parquet file whose columns are one of the canonical schemas.

The file is streamed with ``ParquetFile.iter_batches`` (peak memory ~ one batch), every batch is
cast to the canonical types and validated with the shared vectorized rules. Row numbers in the
rejects are 1-based row indexes in the file (Parquet has no lines).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chainlens.errors import InputError
from chainlens.io._common import (
    AdapterResult,
    Candidate,
    DuplicateTracker,
    Problem,
    RejectSink,
    finalize,
)
from chainlens.schema import SCHEMAS

__all__ = ["FORMAT", "kind_of_schema", "read"]

FORMAT = "canonical_parquet"

#: The order in which kinds are tried (most specific first).
_KIND_ORDER = ("chain", "trades", "prints", "bars", "events", "sectors")


def kind_of_schema(names: list[str]) -> str | None:
    """The canonical kind whose required columns are all present (most columns matched wins)."""
    have = set(names)
    best, best_score = None, -1
    for kind in _KIND_ORDER:
        sch = SCHEMAS[kind]
        required = {f.name for f in sch if not f.nullable}
        if required <= have:
            score = len(have & set(sch.names))
            if score > best_score:
                best, best_score = kind, score
    return best


def read(path: Path, *, batch_rows: int = 1_000_000) -> Iterator[AdapterResult]:
    """Stream a canonical Parquet file in batches of ``batch_rows``."""
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"not a readable Parquet file ({e})", path=path) from None
    names = pf.schema_arrow.names
    kind = kind_of_schema(names)
    if kind is None:
        raise InputError(
            "Parquet columns match no canonical schema",
            path=path,
            hint="required columns per kind are listed in chainlens.schema (e.g. chain needs "
            + ", ".join(f.name for f in SCHEMAS["chain"] if not f.nullable)
            + "); use a TOML mapping (--mapping) for other layouts",
        )
    schema = SCHEMAS[kind]
    sink = RejectSink(path)
    dups = DuplicateTracker()
    row0 = 1
    cols_wanted = [c for c in schema.names if c in names]
    for batch in pf.iter_batches(batch_size=batch_rows, columns=cols_wanted):
        n = batch.num_rows
        lines = np.arange(row0, row0 + n, dtype=np.int64)
        row0 += n
        cols: dict[str, pa.Array] = {}
        probs: list[Problem] = []
        for f in schema:
            if f.name not in batch.schema.names:
                continue
            a = batch.column(f.name)
            if a.type != f.type:
                try:
                    a = a.cast(f.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                    raise InputError(
                        f"column type {a.type} cannot be read as {f.type} ({e})",
                        path=path,
                        column=f.name,
                    ) from None
            cols[f.name] = a
        cols.pop("crossed", None)
        table = finalize(
            Candidate(kind, cols, lines, probs), sink, dups if kind == "chain" else None
        )
        rej = sink.take()
        yield AdapterResult(
            kind=kind, table=table, rejects=rej, rows_read=n, format=FORMAT, source=path
        )
