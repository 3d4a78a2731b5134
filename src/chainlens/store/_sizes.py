"""How many stored rows each underlying brings to a session's run (for sizing runner blocks).

:class:`SizesMixin` is part of :class:`chainlens.store.Store`. Its one method,
:meth:`~SizesMixin.window_rows`, counts per underlying the rows a pipeline run of a session
reads: the chain rows of its window (from the catalog: the ``contracts`` of each session's
default snapshot, :meth:`Store.default_snapshots`, no file read) and its trades and off-exchange prints of the session (a
DuckDB ``count(*) ... GROUP BY`` over the session's files: the key column only).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from chainlens._dates import parse_date
from chainlens.errors import InputError

if TYPE_CHECKING:
    import duckdb

__all__ = ["SizesMixin"]

#: Rows per underlying of a session's files of one kind (literal statements, no formatting).
_COUNT_SQL = {
    "trades": "SELECT underlying, count(*) FROM read_parquet($f) GROUP BY 1",
    "prints": "SELECT ticker, count(*) FROM read_parquet($f) GROUP BY 1",
}


class SizesMixin:
    """Row counts per underlying of :class:`chainlens.store.Store` (see module doc)."""

    root: Path

    if TYPE_CHECKING:  # provided by Store

        @property
        def con(self) -> duckdb.DuckDBPyConnection: ...

        def default_snapshots(self, *, end: dt.date, n_sessions: int | None = None) -> pa.Table: ...

        def dated_files(self, kind: str, session: dt.date | str) -> list[str]: ...

    def window_rows(self, session: dt.date | str, n_sessions: int) -> pa.Table:
        """Rows a run of ``session`` reads, per underlying with a chain that session.

        Columns ``underlying`` (sorted), ``chain_rows`` (default-snapshot contracts summed
        over the underlying's last ``n_sessions`` sessions up to ``session``: the rows of its
        :meth:`Store.chain_history` window), ``trade_rows`` and ``print_rows`` (its stored
        trades and off-exchange prints of ``session``), all int64 row counts.

        Examples
        --------
        >>> import tempfile
        >>> from chainlens.store import Store
        >>> with Store(tempfile.mkdtemp()) as st:
        ...     st.window_rows("2024-03-15", 5).column_names
        ['underlying', 'chain_rows', 'trade_rows', 'print_rows']
        """
        d = parse_date(session)
        if n_sessions < 1:
            raise InputError("n_sessions must be >= 1", column="n_sessions", value=n_sessions)
        # the default snapshots of chain_history's windows (Store.default_snapshots: one rule)
        snaps = self.default_snapshots(end=d, n_sessions=n_sessions)
        today = pc.equal(snaps.column("trade_date"), pa.scalar(d, pa.date32()))
        listed = pc.unique(snaps.filter(today).column("underlying"))
        snaps = snaps.filter(pc.is_in(snaps.column("underlying"), listed))
        g = snaps.group_by("underlying").aggregate([("contracts", "sum")])
        rows = dict(
            zip(
                g.column("underlying").to_pylist(),
                g.column("contracts_sum").to_pylist(),
                strict=True,
            )
        )
        names = sorted(rows)
        counts = {"trade_rows": self._counts("trades", d), "print_rows": self._counts("prints", d)}
        return pa.table(
            {
                "underlying": pa.array(names, pa.string()),
                "chain_rows": pa.array([int(rows[u]) for u in names], pa.int64()),
                **{
                    k: pa.array([c.get(u, 0) for u in names], pa.int64()) for k, c in counts.items()
                },
            }
        )

    def _counts(self, kind: str, d: dt.date) -> dict[str, int]:
        """``underlying -> rows`` of the ``kind`` files of session ``d`` (key column only)."""
        files = [str(self.root / f) for f in self.dated_files(kind, d)]
        if not files:
            return {}
        got = self.con.execute(_COUNT_SQL[kind], {"f": files}).fetchall()
        return {u: int(c) for u, c in got}
