"""Table comparison for tests: equal schemas and values, NaN equal to NaN (``Table.equals``
says NaN != NaN)."""

from __future__ import annotations

import pyarrow as pa


def same_rows(a: pa.Table, b: pa.Table) -> bool:
    """Whether ``a`` and ``b`` hold the same schema and values, NaN equal to NaN."""
    if a.schema != b.schema or a.num_rows != b.num_rows:
        return False
    for x, y in zip(a.columns, b.columns, strict=True):
        for u, v in zip(x.to_pylist(), y.to_pylist(), strict=True):
            if u != v and not (isinstance(u, float) and isinstance(v, float) and u != u and v != v):
                return False
    return True
