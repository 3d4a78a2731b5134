"""Canonical Parquet: a Parquet file whose columns are one of the canonical schemas.

The file is streamed by row groups (``ParquetFile.read_row_groups``, one call per batch,
column-parallel decoding; small row groups are gathered up to a batch, larger ones streamed in
slices). The next
batch is read on a background thread while the current one is validated (Parquet decoding
releases the GIL), so peak memory is about two batches: ``iter_batches`` reads far ahead and
held ~2.5x more. Every batch is cast to the canonical types and validated with the shared
vectorized rules. Row numbers in the rejects are 1-based row indexes in the file (Parquet has
no lines).

A batch is marked ``verbatim`` when the accepted table is the file's rows unchanged (exact
canonical columns and types, no rejects, stored ``crossed`` flags equal to the computed ones);
the store uses it to publish an already-canonical file without re-encoding it.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chainlens.errors import InputError
from chainlens.io import _rules
from chainlens.io._common import (
    AdapterResult,
    Candidate,
    DuplicateTracker,
    Problem,
    RejectSink,
    finalize,
)
from chainlens.schema import SCHEMAS

__all__ = ["FORMAT", "iter_tables", "kind_of_schema", "read"]

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


def _iter_tables(pf: pq.ParquetFile, columns: list[str], batch_rows: int) -> Iterator[pa.Table]:
    """Tables of at most ``batch_rows`` rows, in file order.

    Whole row groups are gathered while they fit in a batch (never split: a slice would pin
    its whole row group in memory); a row group larger than a batch is streamed in slices.
    """
    pending: list[int] = []  # row groups gathered for the next batch (read in one call)
    have = 0
    for i in range(pf.num_row_groups):
        rows = pf.metadata.row_group(i).num_rows
        if pending and have + rows > batch_rows:
            yield pf.read_row_groups(pending, columns=columns)
            pending, have = [], 0
        if rows > batch_rows:
            for b in pf.iter_batches(batch_size=batch_rows, row_groups=[i], columns=columns):
                yield pa.Table.from_batches([b])
            continue
        pending.append(i)
        have += rows
    if pending:
        yield pf.read_row_groups(pending, columns=columns)


_END = object()


def _read_ahead(it: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """``it``'s items, the next one produced on a background thread while the caller works."""
    ex = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chainlens-parquet")
    try:
        fut = ex.submit(next, it, _END)
        while True:
            item = fut.result()
            if item is _END:
                return
            fut = ex.submit(next, it, _END)
            yield item
    finally:
        ex.shutdown(wait=True)  # never leave a read running on a closed file


def iter_tables(
    pf: pq.ParquetFile, columns: list[str], batch_rows: int, *, path: Path | None = None
) -> Iterator[pa.Table]:
    """The file's rows as tables of at most ``batch_rows`` rows, in file order, the next one
    decoded on a background thread while the caller works on the current one. A page that
    cannot be decoded (corrupt compressed data, a truncated column chunk) raises
    :class:`InputError` naming ``path``."""
    it = _read_ahead(_iter_tables(pf, columns, batch_rows))
    while True:
        try:
            table = next(it)
        except StopIteration:
            return
        except (OSError, pa.ArrowInvalid) as e:
            raise InputError(
                f"damaged Parquet file ({e})",
                path=path,
                hint="its data pages cannot be decoded: re-export or re-download it",
            ) from None
        yield table


def read(path: Path, *, batch_rows: int = 1_000_000) -> Iterator[AdapterResult]:
    """Stream a canonical Parquet file in batches of ``batch_rows``."""
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"not a readable Parquet file ({e})", path=path) from None
    names = pf.schema_arrow.names
    _rules.check_unique_header(names, path, row=None)
    kind = kind_of_schema(names)
    if kind is None:
        raise InputError(
            "Parquet columns match no canonical schema",
            path=path,
            hint="required columns per kind are listed in chainlens.schema (e.g. chain needs "
            + ", ".join(f.name for f in SCHEMAS["chain"] if not f.nullable)
            + "); use a TOML mapping (--mapping) for other layouts",
        )
    _rules.check_required_columns(kind, names, path, source=True)
    schema = SCHEMAS[kind]
    sink = RejectSink(path)
    dups = DuplicateTracker()
    row0 = 1
    cols_wanted = [c for c in schema.names if c in names]
    exact = names == schema.names and all(
        pf.schema_arrow.field(f.name).type == f.type for f in schema
    )
    for batch in iter_tables(pf, cols_wanted, batch_rows, path=path):
        n = batch.num_rows
        lines = np.arange(row0, row0 + n, dtype=np.int64)
        row0 += n
        cols: dict[str, pa.Array] = {}
        probs: list[Problem] = []
        for f in schema:
            if f.name not in batch.schema.names:
                continue
            a = batch.column(f.name)
            a = a.chunk(0) if a.num_chunks == 1 else a.combine_chunks()
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
        stored_crossed = cols.pop("crossed", None)
        table = finalize(
            Candidate(kind, cols, lines, probs), sink, dups if kind == "chain" else None
        )
        rej = sink.take()
        verbatim = exact and rej.num_rows == 0
        if verbatim and stored_crossed is not None:
            computed = table.column("crossed")
            verbatim = stored_crossed.null_count == 0 and bool(
                pc.all(pc.equal(stored_crossed, computed)).as_py()
            )
        yield AdapterResult(
            kind=kind,
            table=table,
            rejects=rej,
            rows_read=n,
            format=FORMAT,
            source=path,
            verbatim=verbatim,
        )
