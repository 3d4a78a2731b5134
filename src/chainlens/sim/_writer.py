"""Canonical Parquet output: one writer per table and session, appended chunk by chunk."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from chainlens import schema

__all__ = ["SessionWriters", "TRUTH_PRINTS", "TRUTH_TRADES", "write_table"]

TRUTH_TRADES = pa.schema(
    [
        pa.field("trade_id", pa.int64(), nullable=False),
        pa.field("true_side", pa.string(), nullable=False),  # buy | sell (the customer side)
        pa.field("open_close", pa.string(), nullable=False),  # open | close
        pa.field("style", pa.string(), nullable=False),  # single | sweep | block | multileg
        pa.field("group_id", pa.int64()),  # multi-leg group (legs share ts), null if none
        pa.field("program_id", pa.int64()),  # planted scenario id, null if none
    ]
)

TRUTH_PRINTS = pa.schema(
    [
        pa.field("row", pa.int64(), nullable=False),  # 0-based row in prints-DATE.parquet
        pa.field("ticker", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("ns", tz="UTC"), nullable=False),
        pa.field("true_side", pa.string(), nullable=False),  # buy | sell | none
        pa.field("program_id", pa.int64()),  # program (background or planted), null if none
        pa.field("scenario_id", pa.int64()),  # planted scenario id, null if none
    ]
)

_COMPRESSION = "snappy"  # 2-3x faster to write than zstd; the store recompresses


def write_table(table: pa.Table, path: Path) -> Path:
    """Write one whole table."""
    pq.write_table(table, path, compression=_COMPRESSION)
    return path


class SessionWriters:
    """Writers for one session's chain, trades, prints and truth files.

    Writes run on one background thread (Parquet encoding releases the GIL), so the next chunk
    is generated while the previous one is written; at most two chunks are in flight.
    """

    def __init__(self, out_dir: Path, day: str) -> None:
        (out_dir / "truth").mkdir(parents=True, exist_ok=True)
        self.paths = {
            "chain": out_dir / f"chain-{day}.parquet",
            "trades": out_dir / f"trades-{day}.parquet",
            "prints": out_dir / f"prints-{day}.parquet",
            "truth_trades": out_dir / "truth" / f"trades-{day}.parquet",
            "truth_prints": out_dir / "truth" / f"prints-{day}.parquet",
        }
        schemas = {
            "chain": schema.CHAIN,
            "trades": schema.TRADES,
            "prints": schema.PRINTS,
            "truth_trades": TRUTH_TRADES,
            "truth_prints": TRUTH_PRINTS,
        }
        self._w = {
            k: pq.ParquetWriter(p, schemas[k], compression=_COMPRESSION)
            for k, p in self.paths.items()
        }
        self.rows = dict.fromkeys(self.paths, 0)
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending: Future | None = None

    def _write_all(self, tables: dict[str, pa.Table]) -> None:
        for kind, table in tables.items():
            if table.num_rows:
                self._w[kind].write_table(table, row_group_size=1 << 20)
                self.rows[kind] += table.num_rows

    def write_many(self, tables: dict[str, pa.Table]) -> None:
        """Queue one chunk's tables (waits for the previous chunk to be written)."""
        if self._pending is not None:
            self._pending.result()
        self._pending = self._pool.submit(self._write_all, tables)

    def close(self) -> None:
        try:
            if self._pending is not None:
                self._pending.result()
        finally:
            self._pool.shutdown(wait=True)
            for w in self._w.values():
                w.close()
