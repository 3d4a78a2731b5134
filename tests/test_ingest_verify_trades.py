"""The compiled clean-file proof of canonical trades files (:class:`chainlens.io._verify.TradesVerifier`).

The proof must be *sound*: whenever it accepts a file, the full rules (the canonical Parquet
adapter, :func:`chainlens.io._common.finalize`) reject no row, and for a verbatim publish the
rows are of one session and in the store's order (underlying, ts). The reference is that
full validation on the same file; the store's answers through the proof paths are compared
with those of the full rules (``CHAINLENS_NO_NUMBA=1``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import hypothesis.strategies as hs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from chainlens import schema
from chainlens.io import _parquet, _verify
from chainlens.store import Store
from chainlens.store import _store as store_mod
from chainlens.store._stage import SORT_KEYS, is_sorted, sort_table, write_parquet
from test_ingest_fastpath import DAY, canonical_chain, sha, write
from test_ingest_verify import _spy_proof

pytestmark = pytest.mark.skipif(not _verify.available(), reason="Numba disabled or missing")

OPEN = dt.datetime(2024, 3, 4, 14, 30, tzinfo=dt.UTC)


def canonical_trades(n_und: int = 4, n_trades: int = 400, seed: int = 0) -> pa.Table:
    """Trades on the contracts of :func:`canonical_chain`, in the store's order
    (underlying, ts), with some equal timestamps (legs of one order)."""
    rng = np.random.default_rng(seed)
    chain = canonical_chain(n_und=n_und, n_strikes=10, seed=seed)
    c = chain.take(pa.array(rng.integers(0, chain.num_rows, n_trades)))
    ts_ns = np.datetime64(OPEN.replace(tzinfo=None), "ns").astype(np.int64)
    ts = ts_ns + rng.integers(0, 2_000, n_trades) * 10**9
    price = np.round(rng.uniform(0.0, 8.0, n_trades), 2)
    bid = np.where(rng.random(n_trades) < 0.1, np.nan, np.maximum(price - 0.05, 0.0))
    t = pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
            **{k: c[k] for k in schema.TRADES.names[1:10]},
            "price": price,
            "size": rng.integers(0, 50, n_trades),
            "bid": pa.array(bid, from_pandas=True),  # NaN -> null (no quote)
            "ask": price + 0.05,
            "exchange": pa.array(["CBOE", "ISE", None])
            .take(pa.array(rng.integers(0, 3, n_trades)))
            .cast(pa.string()),
            "condition": pa.array(["I", "S"]).take(pa.array(rng.integers(0, 2, n_trades))),
            "spot": np.full(n_trades, 100.0),
            "trade_id": np.arange(n_trades, dtype=np.int64),
        }
    )
    return sort_table(schema.conform(t, schema.TRADES), "trades")


def proof(path: Path, batch_rows: int = 100, verbatim: bool = True) -> tuple[bool, str | None]:
    """Run the verifier over ``path`` in blocks, as the store does."""
    pf = pq.ParquetFile(path, read_dictionary=list(_verify.TRADES_DICTIONARY_COLUMNS))
    ver = _verify.TradesVerifier(DAY if verbatim else None, ordered=verbatim)
    for table in _parquet.iter_tables(pf, pf.schema_arrow.names, batch_rows):
        for rb in table.unify_dictionaries().combine_chunks().to_batches():
            if not ver.check(rb):
                return False, ver.reason
    return True, None


def full_rules(path: Path) -> tuple[int, bool, bool]:
    """(rejects, one session (DAY), sorted by (underlying, ts)) by the full validation."""
    rejects, tables = 0, []
    for res in _parquet.read(path, batch_rows=1_000):
        assert res.kind == "trades"
        rejects += res.rejects.num_rows
        tables.append(res.table)
    t = pa.concat_tables(tables)
    one_day = pc.all(pc.equal(t["trade_date"], pa.scalar(DAY, pa.date32()))).as_py()
    return rejects, bool(one_day), is_sorted(t, SORT_KEYS["trades"])


def set_value(t: pa.Table, row: int, column: str, value: object) -> pa.Table:
    vals = t[column].combine_chunks().to_pylist()
    vals[row] = value
    i = t.schema.get_field_index(column)
    fld = t.schema.field(i).with_nullable(True) if value is None else t.schema.field(i)
    return t.set_column(i, fld, pa.array(vals, fld.type))


def test_clean_file_is_proved_clean(tmp_path: Path) -> None:
    f = write(canonical_trades(), tmp_path / "t.parquet")
    assert proof(f) == (True, None)
    assert proof(f, verbatim=False) == (True, None)
    assert full_rules(f) == (0, True, True)


#: (column, value) edits that break one rule each, or look odd but are legal.
EDITS = [
    ("size", -1),
    ("size", None),
    ("price", -0.01),
    ("price", float("nan")),
    ("price", float("inf")),
    ("price", None),
    ("price", 0.0),  # legal
    ("bid", -1.0),
    ("bid", float("nan")),
    ("bid", None),  # legal
    ("ask", float("inf")),
    ("ask", -0.5),
    ("spot", float("nan")),
    ("spot", float("-inf")),
    ("spot", -3.0),  # legal (no sign rule on spot)
    ("spot", None),  # legal
    ("strike", 0.0),
    ("strike", -5.0),
    ("strike", float("nan")),
    ("strike", float("inf")),
    ("strike", 52.5001),  # within the symbol check's 5e-4 tolerance: legal, not exact
    ("right", "X"),
    ("right", "c"),
    ("right", None),
    ("settlement", "XX"),
    ("settlement", None),
    ("expiry", dt.date(2024, 3, 1)),  # before the session
    ("expiry", dt.date(2124, 3, 8)),
    ("expiry", None),
    ("trade_date", dt.date(2024, 3, 5)),  # another session (legal alone)
    ("trade_date", dt.date(2024, 3, 20)),  # after some expiries
    ("trade_date", None),
    ("root", "ZZZ"),
    ("root", None),
    ("underlying", "U999"),
    ("underlying", "A"),
    ("underlying", None),
    ("symbol", "U000240308C00050000"),
    ("symbol", "U000240308C0005000X"),
    ("symbol", "U000  240308C00050000"),
    ("symbol", "X"),
    ("symbol", None),
    ("multiplier", None),
    ("multiplier", -100),  # legal (no rule)
    ("ts", None),
    ("ts", dt.datetime(2024, 3, 4, 14, 0, tzinfo=dt.UTC)),  # out of order
    ("ts", dt.datetime(2024, 3, 5, 3, 0, tzinfo=dt.UTC)),
    ("exchange", None),  # legal
    ("condition", "??"),  # legal
    ("trade_id", -5),  # legal
    ("trade_id", None),  # legal
]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    edits=hs.lists(hs.tuples(hs.integers(0, 399), hs.sampled_from(EDITS)), max_size=3),
    moves=hs.lists(hs.tuples(hs.integers(0, 399), hs.integers(0, 399)), max_size=2),
)
def test_proof_is_sound(tmp_path: Path, edits: list, moves: list) -> None:
    """Random edits, row copies and swaps: if the proof accepts, the full rules agree."""
    t = canonical_trades()
    for row, (column, value) in edits:
        t = set_value(t, row, column, value)
    idx = np.arange(t.num_rows)
    for a, b in moves:
        if a % 2:
            idx[b] = idx[a]  # a copy of row a in place of row b (a duplicate: legal in trades)
        else:
            idx[[a, b]] = idx[[b, a]]
    t = t.take(pa.array(idx))
    f = write(t, tmp_path / "x.parquet")
    ok, why = proof(f)
    if ok:  # a verbatim publish: clean, one session, in the store's order
        assert full_rules(f) == (0, True, True)
    else:
        assert why
    ok2, why2 = proof(f, verbatim=False)  # re-encoding: any order, any sessions
    if ok2:
        assert full_rules(f)[0] == 0
    else:
        assert why2
    assert ok2 or not ok  # the re-encoding mode is never stricter


def test_edits_of_one_rule_each_are_caught_by_the_proof() -> None:
    """Every EDITS entry the full rules reject is declined by the proof (both modes)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        for k, (column, value) in enumerate(EDITS):
            t = set_value(canonical_trades(), 7, column, value)
            f = write(t, Path(d) / f"e{k}.parquet")
            rejects = full_rules(f)[0]
            assert rejects in (0, 1)
            if rejects:
                assert not proof(f)[0] and not proof(f, verbatim=False)[0], (column, value)


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, bool]]:
    """Record (verbatim, proved) for each call of the store's trades proof path."""
    return _spy_proof(monkeypatch, "_stage_proved_trades")


#: One broken rule each: (column, value, rejected column, reason of the full rules).
BROKEN = [
    ("size", None, "size", "missing value"),
    ("price", float("nan"), "price", "NaN or inf"),
    ("ask", float("inf"), "ask", "NaN or inf"),
    ("spot", float("nan"), "spot", "NaN or inf"),
    ("size", -2, "size", "negative value"),
    ("strike", 0.0, "strike", "strike must be > 0"),
    ("price", -0.5, "price", "negative price"),
    ("bid", -0.1, "bid", "negative price"),
    ("right", "X", "right", "right must be C or P"),
    ("settlement", "XX", "settlement", "settlement must be AM or PM"),
    ("expiry", dt.date(2024, 3, 1), "expiry", "expiry before the session"),
    ("root", "ZZZ", "symbol", "symbol does not match the root column"),
    ("symbol", "U000240315C00050000", "symbol", "symbol does not match the expiry column"),
    ("underlying", None, "underlying", "missing value"),
    ("ts", None, "ts", "missing value"),
]


@pytest.mark.parametrize("layout", ["verbatim", "unsorted"])
@pytest.mark.parametrize(("column", "value", "rej_column", "reason"), BROKEN)
def test_each_broken_rule_declines_and_the_full_rules_name_the_row(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    layout: str,
    column: str,
    value: object,
    rej_column: str,
    reason: str,
) -> None:
    ref = canonical_trades(n_und=6, n_trades=3_000)
    row = 1_234
    if column == "symbol":  # a March 15 symbol on a March 8 contract
        row = int(np.flatnonzero(ref["expiry"].to_numpy() == np.datetime64("2024-03-08"))[5])
        value = ref["symbol"][row].as_py().replace("240308", "240315")
    t = set_value(ref, row, column, value)
    if layout == "unsorted":
        perm = np.random.default_rng(3).permutation(t.num_rows)
        t = t.take(pa.array(perm))
        row = int(np.flatnonzero(perm == row)[0])
    # unsorted: row groups below the verbatim minimum, so only the re-encoding proof runs
    f = write(t, tmp_path / "bad.parquet", row_group_size=1_024 if layout == "verbatim" else 500)
    assert not proof(f, batch_rows=1_000, verbatim=layout == "verbatim")[0]
    calls = _spy(monkeypatch)
    with Store(tmp_path / "s") as st:
        r = st.ingest(f)
        assert calls == [(layout == "verbatim", False)]
        assert (r.rows_read, r.accepted, r.rejected) == (t.num_rows, t.num_rows - 1, 1)
        assert r.kinds == {"trades": t.num_rows - 1}
        rej = pa.csv.read_csv(r.rejects_path).to_pylist()
        assert [(x["row"], x["column"], x["reason"]) for x in rej] == [
            (row + 1, rej_column, reason)
        ]


def _stored(st: Store) -> tuple[list[dict], dict[str, pa.Table]]:
    """Catalog rows (no ids or times) and every stored trade per underlying."""
    files = st.con.execute(
        "SELECT f.kind, f.trade_date, f.rows, s.rows_read, s.accepted, s.rejected, s.kinds "
        "FROM files f JOIN sources s USING (source_id) ORDER BY s.seq, f.trade_date"
    ).fetchall()
    days = sorted({r[1] for r in files})
    trades = {
        f"{u}/{d}": st.trades(u, d) for d in days for u in sorted({f"U{i:03d}" for i in range(8)})
    }
    return [dict(enumerate(r)) for r in files], trades


def _published_verbatim(root: Path, src: Path) -> bool:
    return any(sha(f) == sha(src) for f in (root / "trades").rglob("*.parquet"))


@pytest.mark.parametrize("layout", ["store", "unsorted", "two_sessions", "small_groups"])
def test_proof_paths_store_what_the_full_rules_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    """The same file through the proof (verbatim or re-encoded) and through the full rules
    (Numba off): identical catalog rows and stored trades."""
    ref = canonical_trades(n_und=8, n_trades=20_000, seed=4)
    f = tmp_path / f"{layout}.parquet"
    if layout == "store":
        write_parquet(ref, f)
    elif layout == "unsorted":
        t = ref.take(pa.array(np.random.default_rng(1).permutation(ref.num_rows)))
        write(t, f, row_group_size=3_000)
    elif layout == "two_sessions":
        i = ref.schema.get_field_index("trade_date")
        late = pc.greater(ref["ts"], pa.scalar(OPEN + dt.timedelta(seconds=1_000), ref["ts"].type))
        d2 = pc.if_else(late, pa.scalar(dt.date(2024, 3, 5)), ref["trade_date"])
        write(ref.set_column(i, ref.schema.field(i), d2), f)
    else:
        write(ref, f, row_group_size=500)  # sorted, but groups below the verbatim minimum
    monkeypatch.setattr(store_mod, "INGEST_BATCH_ROWS", 4_000)  # several blocks
    monkeypatch.setattr(store_mod, "VERIFY_BATCH_ROWS", 4_000)
    calls = _spy(monkeypatch)
    want = {
        "store": [(True, True)],
        "unsorted": [(True, False), (False, True)],  # the footer allows a verbatim try
    }.get(layout, [(False, True)])
    with Store(tmp_path / "fast") as a:
        r = a.ingest(f)
        assert (r.status, r.rows_read, r.accepted, r.rejected) == (
            "ingested",
            ref.num_rows,
            ref.num_rows,
            0,
        )
        assert calls == want
        assert _published_verbatim(a.root, f) == (layout == "store")
        fast = _stored(a)
    monkeypatch.setenv("CHAINLENS_NO_NUMBA", "1")
    with Store(tmp_path / "slow") as b:
        assert b.ingest(f).accepted == ref.num_rows
        assert _published_verbatim(b.root, f) == (layout == "store")
        slow = _stored(b)
    assert calls == want  # not called with Numba off
    assert fast[0] == slow[0]
    assert fast[1].keys() == slow[1].keys()
    assert all(fast[1][k].equals(slow[1][k]) for k in fast[1])
    assert sum(t.num_rows for t in fast[1].values()) == ref.num_rows


def test_out_of_order_across_blocks_is_re_encoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sorted halves swapped (each block sorted, the file not): the verbatim proof
    declines at the block boundary, the re-encoding proof stores the rows sorted per block."""
    ref = canonical_trades(n_und=8, n_trades=8_192, seed=2)
    t = pa.concat_tables([ref.slice(4_096), ref.slice(0, 4_096)])
    f = tmp_path / "halves.parquet"
    write_parquet(t, f)  # the store's layout, per the footer
    assert proof(f, batch_rows=4_096) == (False, _verify.OUT_OF_ORDER_ACROSS_BLOCKS)
    monkeypatch.setattr(store_mod, "VERIFY_BATCH_ROWS", 4_096)
    calls = _spy(monkeypatch)
    with Store(tmp_path / "s") as st:
        r = st.ingest(f)
        assert (r.accepted, r.rejected) == (t.num_rows, 0)
        assert calls == [(True, False), (False, True)]
        assert not _published_verbatim(st.root, f)
        got = pa.concat_tables([st.trades(f"U{i:03d}", DAY) for i in range(8)])
        assert sort_table(got, "trades").equals(ref)


def test_simulated_trades_file_is_proved_and_stored_as_by_the_full_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trades file of the simulator (time order, not the store's): proved clean, sorted and
    re-encoded; the store holds what the full rules store."""
    from chainlens.sim import SimConfig, simulate_market

    m = simulate_market(
        SimConfig(underlyings=6, sessions=1, seed=3, trades_per_underlying=400, scenarios=False),
        tmp_path / "sim",
    )
    (f,) = m.files["trades"]
    n = pq.ParquetFile(f).metadata.num_rows
    assert n > 1_000
    monkeypatch.setattr(store_mod, "INGEST_BATCH_ROWS", 1_000)
    calls = _spy(monkeypatch)
    got = {}
    for label in ("fast", "slow"):
        if label == "slow":
            monkeypatch.setenv("CHAINLENS_NO_NUMBA", "1")
        with Store(tmp_path / label) as st:
            r = st.ingest(f)
            assert (r.status, r.rows_read, r.accepted, r.rejected) == ("ingested", n, n, 0)
            assert r.kinds == {"trades": n}
            (d,) = m.sessions
            got[label] = {u: st.trades(u, d) for u in m.underlyings}
    # one small row group: a verbatim try first, declined at the first row out of order
    assert calls == [(True, False), (False, True)]
    assert all(got["fast"][u].equals(got["slow"][u]) for u in m.underlyings)
    assert sum(t.num_rows for t in got["fast"].values()) == n


def test_dictionary_sort_is_the_stores_stable_sort() -> None:
    """sort_trades_by_dictionary against sort_table (Arrow's stable sort over the strings),
    with ties in ts and a dictionary holding one value twice (a legal Arrow array)."""
    from chainlens.store._stage import sort_trades_by_dictionary

    rng = np.random.default_rng(7)
    t = canonical_trades(n_und=5, n_trades=5_000, seed=7)
    t = t.take(pa.array(rng.permutation(t.num_rows)))
    values = pa.array(["U003", "U001", "U000", "U001", "U004", "U002", "U000"])
    idx = rng.integers(0, len(values), t.num_rows).astype(np.int32)
    und = pa.DictionaryArray.from_arrays(pa.array(idx), values)
    i = t.schema.get_field_index("underlying")
    t_dict = t.set_column(i, pa.field("underlying", und.type, nullable=False), und)
    t_str = t.set_column(i, t.schema.field(i), und.cast(pa.string()))
    got = sort_trades_by_dictionary(t_dict).cast(schema.TRADES)
    assert got.equals(sort_table(t_str, "trades"))
    assert is_sorted(got, SORT_KEYS["trades"])
