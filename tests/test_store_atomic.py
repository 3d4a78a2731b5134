"""Atomicity for real: an ingest killed with SIGKILL midway leaves the store exactly as it was.

A child process ingests a large canonical Parquet file and is killed (``kill -9``) at two points:
while staging (after the first adapter batch) and while publishing (after the first file was
renamed into place, before the catalog transaction commits). The parent then checks that the
files and catalog rows are unchanged, that nothing is left in ``tmp/``, and that re-ingesting
the same file works.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chainlens import schema
from chainlens.store import Store
from test_store import D1, D2, chain_table, utc
from test_store_ingest import snapshot_of_store

N_UNDERLYINGS = 400
STRIKES = 150  # x2 rights x 2 sessions x 400 = 240k contracts


def _big_file(path: Path) -> int:
    parts = []
    for d in (D1, D2):
        base = chain_table("U", d, utc(d, 20), [float(k) for k in range(1, STRIKES + 1)])
        n = base.num_rows
        und = np.repeat(np.array([f"U{i:03d}" for i in range(N_UNDERLYINGS)]), n)
        big = pa.concat_tables([base] * N_UNDERLYINGS)
        sym = pa.array(
            np.char.add(
                und.astype(str),
                np.tile(np.array([x[1:] for x in base["symbol"].to_pylist()]), N_UNDERLYINGS),
            )
        )
        big = big.set_column(
            big.schema.get_field_index("underlying"), big.schema.field("underlying"), pa.array(und)
        )
        big = big.set_column(
            big.schema.get_field_index("root"), big.schema.field("root"), pa.array(und)
        )
        big = big.set_column(big.schema.get_field_index("symbol"), big.schema.field("symbol"), sym)
        parts.append(big)
    t = schema.conform(pa.concat_tables(parts), schema.CHAIN)
    pq.write_table(t, path, row_group_size=50_000)
    return t.num_rows


CHILD = textwrap.dedent(
    """
    import os, sys, time
    from chainlens.store import Store
    store, path, where = sys.argv[1], sys.argv[2], sys.argv[3]
    if where == "publish":
        real = os.replace
        def replace(a, b):
            real(a, b)
            print("KILLME", flush=True)
            time.sleep(120)
        os.replace = replace
    def progress(p, rows):
        if where == "stage":
            print("KILLME", flush=True)
            time.sleep(120)
    with Store(store) as st:
        st.ingest(path, progress=progress)
    print("DONE", flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["stage", "publish"])
def test_sigkill_midway_leaves_store_unchanged(tmp_path: Path, where: str) -> None:
    pytest.importorskip("chainlens.io")
    store = tmp_path / "store"
    with Store(store) as st:
        st.add_tables({"chain": chain_table("SPY", D1, utc(D1, 20), [100.0, 101.0])}, source="seed")
        seed_chain = st.chain("SPY", D1)
    before = snapshot_of_store(store)
    big = tmp_path / "big.parquet"
    n = _big_file(big)

    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(store), str(big), where],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line == "KILLME", f"child did not reach the kill point: {line!r}"
            if where == "stage":
                assert any((store / "tmp").iterdir()), (
                    "staging files should exist at the kill point"
                )
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == -signal.SIGKILL

    with Store(store) as st:  # opening read-write cleans leftovers
        assert not any((store / "tmp").iterdir())
        assert st.chain("SPY", D1).equals(seed_chain)
        assert st.underlyings() == ["SPY"]
    assert snapshot_of_store(store) == before

    with Store(store) as st:  # the lock is free and the same file ingests cleanly now
        r = st.ingest(big)
        assert (r.status, r.rows_read, r.accepted, r.rejected) == ("ingested", n, n, 0)
        assert len(st.underlyings()) == N_UNDERLYINGS + 1
        assert st.chain("U123", D2).num_rows == 2 * STRIKES
