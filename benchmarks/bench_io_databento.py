"""Throughput and memory of the Databento DBN adapter on a large synthetic ``tbbo`` file.

Run: ``.venv/bin/python benchmarks/bench_io_databento.py [N]``. Writes N (default 2,000,000)
``tbbo`` records (80-byte MBP-1 records with action 'T') over 2,000 SPY contracts into a temporary
DBN file, built with NumPy from one record encoded by databento-dbn, then reads it with
``chainlens.io.read_file`` in batches of 250,000 rows and prints records/s and the peak RSS
growth (the reader is streamed: memory stays about one batch whatever the file size).
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace as NS

import databento_dbn as dbn
import numpy as np
import psutil

from chainlens.io import read_file

T0 = 1740069000000000000  # 2025-02-20 16:30 UTC


def write_file(path: Path, n: int, n_contracts: int = 2000) -> None:
    strikes = 500 + np.arange(n_contracts // 2)
    syms = [f"SPY   250321{r}{int(k * 1000):08d}" for k in strikes for r in "CP"]
    day = dict(start_date=dt.date(2025, 2, 20), end_date=dt.date(2025, 2, 21))
    mp = [NS(raw_symbol=s, intervals=[NS(**day, symbol=str(1000 + i))]) for i, s in enumerate(syms)]
    md = dbn.Metadata(
        dataset="OPRA.PILLAR", start=T0 - 10**13, stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID, schema=dbn.Schema.TBBO, symbols=syms, mappings=mp,
        end=T0 + 10**13,
    )  # fmt: skip
    rec = dbn.MBP1Msg(
        publisher_id=23, instrument_id=1000, ts_event=T0, price=1_000_000_000, size=1,
        action=dbn.Action.TRADE, side=dbn.Side.NONE, depth=0, ts_recv=T0,
        levels=dbn.BidAskPair(bid_px=990_000_000, ask_px=1_010_000_000, bid_sz=1, ask_sz=1),
    )  # fmt: skip
    one = np.frombuffer(bytes(rec), dtype=np.uint8)
    assert one.size == 80
    rng = np.random.default_rng(0)
    with open(path, "wb") as fh:
        fh.write(md.encode())
        step = 500_000
        for lo in range(0, n, step):
            m = min(step, n - lo)
            block = np.tile(one, (m, 1))
            ts = T0 + (lo + np.arange(m, dtype=np.uint64)) * np.uint64(1000)
            block[:, 4:8] = (
                (1000 + rng.integers(0, n_contracts, m)).astype("<u4").view(np.uint8).reshape(m, 4)
            )
            block[:, 8:16] = ts.astype("<u8").view(np.uint8).reshape(m, 8)
            block[:, 32:40] = block[:, 8:16]
            px = rng.integers(5, 500, m) * 10_000_000
            block[:, 16:24] = px.astype("<i8").view(np.uint8).reshape(m, 8)
            block[:, 48:56] = (px - 10_000_000).astype("<i8").view(np.uint8).reshape(m, 8)
            block[:, 56:64] = (px + 10_000_000).astype("<i8").view(np.uint8).reshape(m, 8)
            fh.write(block.tobytes())


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
    proc = psutil.Process()
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "big.tbbo.dbn"
        t0 = time.perf_counter()
        write_file(f, n)
        print(
            f"wrote {n:,} tbbo records ({f.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s"
        )
        rss0 = proc.memory_info().rss
        peak = rss0
        rows = acc = 0
        t0 = time.perf_counter()
        for res in read_file(f, batch_rows=250_000):
            rows += res.rows_read
            acc += res.table.num_rows
            peak = max(peak, proc.memory_info().rss)
        s = time.perf_counter() - t0
    assert rows == n and acc == n, (rows, acc)
    print(
        f"databento tbbo -> trades: {n:,} records in {s:.2f} s = {n / s / 1e6:.2f} M records/s; "
        f"peak RSS growth {(peak - rss0) / 1e6:.0f} MB (file {n * 80 / 1e6:.0f} MB)"
    )


if __name__ == "__main__":
    main()
