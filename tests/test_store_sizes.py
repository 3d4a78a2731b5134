"""``Store.window_rows`` (issue 13, runner blocks sized by rows) against the store's own
per-underlying reads: the chain window of ``chain_history`` and the session's trades."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
def test_window_rows_equal_the_per_underlying_reads(tmp_path: Path) -> None:
    from chainlens.sim import SimConfig, simulate_market
    from chainlens.store import Store

    man = simulate_market(SimConfig(underlyings=4, sessions=4, seed=5, trades_per_underlying=200,
                                    prints_per_underlying=10), tmp_path / "sim")  # fmt: skip
    with Store(tmp_path / "store") as st:
        st.ingest_many(man.all_paths())
        for d in man.sessions[-2:]:
            for n in (1, 3, 10):
                t = st.window_rows(d, n).to_pylist()
                assert [r["underlying"] for r in t] == sorted(st.underlyings(d))
                for r in t:
                    u = r["underlying"]
                    assert r["chain_rows"] == st.chain_history(u, end=d, n_sessions=n).num_rows
                    assert r["trade_rows"] == st.trades(u, d).num_rows
                    assert r["print_rows"] >= 0
        # a session with nothing stored: an empty table with the columns
        empty = st.window_rows("1999-01-04", 5)
        assert empty.num_rows == 0 and empty.column_names[0] == "underlying"
        # bad arguments: a clear InputError naming the argument, never a silent empty table
        from chainlens.errors import InputError

        for call in (lambda: st.window_rows(man.sessions[-1], 0),
                     lambda: st.default_snapshots(end=man.sessions[-1], n_sessions=0),
                     lambda: st.window_rows("2024-13-45", 5)):  # fmt: skip
            with pytest.raises(InputError):
                call()
