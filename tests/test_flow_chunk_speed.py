"""The faster pieces of the batched flow stages against their references, on a simulated
market (real-shaped tapes and chains) and on hand-made keys.

* :func:`chainlens.flow._keys.stable_argsort` (a compiled counting sort of dense keys) is
  ``numpy.argsort(kind="stable")``, permutation for permutation.
* :func:`chainlens.flow._keys.key_codes` of a one-byte string column (its bytes) gives equal
  codes exactly to equal values, as the dictionary codes do.
* :func:`chainlens.batched.enrich_many` (dense (segment, symbol) keys when every symbol lies
  in one part, the sparse keys otherwise) equals :func:`chainlens.flow.enrich_trades` per part.
* :func:`chainlens.batched._flow.tag_moneyness_chunk` reusing the trade symbol encoding of
  :func:`~chainlens.batched.enrich_many` equals the call that encodes every symbol again, and
  the per-pair :func:`chainlens.flow._premium.tag_moneyness`.
* :func:`chainlens.batched.flow_many` (the chunk's print events kept as one table for
  :func:`~chainlens.batched.notable_many`) equals :func:`chainlens.flow.analyze_flow` per
  underlying for the prints and notable prints.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from _tables import same_rows
from chainlens.batched import _flow as bf
from chainlens.batched import enrich_many, flow_many
from chainlens.flow import FlowConfig, analyze_flow, enrich_trades
from chainlens.flow._keys import encoded, key_codes, stable_argsort
from chainlens.flow._premium import tag_moneyness
from chainlens.pipeline import PipelineConfig, UnderlyingWindow
from chainlens.runners.local import iter_windows
from chainlens.store import Store


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory) -> list[UnderlyingWindow]:
    from chainlens.sim import SimConfig, simulate_market

    tmp = tmp_path_factory.mktemp("flowspeed")
    m = simulate_market(
        SimConfig(underlyings=12, sessions=3, seed=11, trades_per_underlying=600), tmp / "sim"
    )
    d = m.sessions[-1]
    with Store(tmp / "store") as st:
        st.ingest_many(m.all_paths())
        ws = list(iter_windows(st, d, st.underlyings(d), PipelineConfig()))
    return [w for w in ws if w.trades.num_rows]


def _chain(w: UnderlyingWindow) -> pa.Table:
    return w.history.filter(pc.equal(w.history["trade_date"], w.session))


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_stable_argsort_is_the_stable_argsort(engine: str) -> None:
    from chainlens._engine import force

    rng = np.random.default_rng(3)
    keys = [
        rng.integers(0, 50, 30_000),  # dense, many ties
        rng.integers(-7, 3, 25_000),  # negative values
        rng.integers(0, 10**12, 30_000),  # sparse: NumPy's sort
        np.sort(rng.integers(0, 1000, 40_000)),  # already sorted
        np.zeros(0, np.int64),
        np.full(21_000, 5, np.int64),
    ]
    with force(engine):  # type: ignore[arg-type]
        for k in keys:
            k = np.asarray(k, np.int64)
            assert np.array_equal(stable_argsort(k), np.argsort(k, kind="stable"))


def test_key_codes_of_one_byte_strings_are_equality_codes() -> None:
    vals = ["C", "P", "P", "C", "X", "P"]
    for col in (
        pa.array(vals),
        pa.array(vals, pa.large_string()),
        pa.chunked_array([pa.array(vals[:2]), pa.array(vals[2:])]),
        pa.array(["Z", *vals]).slice(1),  # a slice: its own offset
    ):
        got = key_codes(col)
        ref = encoded(col)[0]
        assert got.shape == ref.shape
        assert ((got[:, None] == got[None, :]) == (ref[:, None] == ref[None, :])).all()
    # nulls or longer values: the dictionary codes
    for col in (pa.array(["C", None, "P"]), pa.array(["CA", "P", "CA"])):
        assert np.array_equal(key_codes(col), encoded(col)[0])


def _same_tables(a: pa.Table, b: pa.Table) -> None:
    assert a.schema.equals(b.schema), (a.schema, b.schema)
    assert same_rows(a, b)


def test_enrich_many_dense_and_sparse_symbol_keys(windows: list[UnderlyingWindow]) -> None:
    cfg = FlowConfig()
    parts = [w.trades for w in windows]
    ref = [enrich_trades(p, cfg) for p in parts]
    for a, b in zip(ref, enrich_many(parts, cfg), strict=True):  # every symbol in one part
        _same_tables(a, b)
    # the same tape twice: its symbols in two parts (the sparse keys)
    twice = [parts[0], parts[1], parts[0]]
    for a, b in zip([ref[0], ref[1], ref[0]], enrich_many(twice, cfg), strict=True):
        _same_tables(a, b)


def test_tag_moneyness_chunk_reuses_the_enrich_encoding(
    windows: list[UnderlyingWindow],
) -> None:
    cfg = FlowConfig()
    chains = [_chain(w) for w in windows]
    got = enrich_many([w.trades for w in windows], cfg)
    assert bf._known_symbols(pa.concat_tables(got).column("symbol")) is not None
    fast = bf.tag_moneyness_chunk(got, chains, cfg)
    # a subset of the parts (other codes, the same equalities) and no encoding to reuse
    sub = bf.tag_moneyness_chunk(got[1:], chains[1:], cfg)
    saved = list(bf._SYMBOL_CODES)
    bf._SYMBOL_CODES.clear()
    try:
        assert bf._known_symbols(pa.concat_tables(got).column("symbol")) is None
        slow = bf.tag_moneyness_chunk(got, chains, cfg)
    finally:
        bf._SYMBOL_CODES[:] = saved
    _same_tables(fast[0], slow[0])
    assert fast[1] == slow[1] and fast[3] == slow[3]
    assert np.array_equal(fast[2], slow[2])  # the same trades: the same codes
    n0 = got[0].num_rows
    _same_tables(sub[0], slow[0].slice(n0))
    c = sub[2]
    r = slow[2][n0:]
    assert ((c[:, None] == c[None, :]) == (r[:, None] == r[None, :])).all()
    kw = {"deep_itm_delta": cfg.deep_itm_delta, "deep_itm_pct": cfg.deep_itm_pct}
    for (e, ch), t in zip(zip(got, chains, strict=True), bf.split_rows(*fast[:2]), strict=True):
        _same_tables(tag_moneyness(e, ch, **kw), t)


def test_flow_many_prints_and_notables_equal_per_underlying(
    windows: list[UnderlyingWindow],
) -> None:
    cfg = FlowConfig()
    enriched = enrich_many([w.trades for w in windows], cfg)
    chains = [_chain(w) for w in windows]
    frs = flow_many(
        enriched, chains, histories=[w.history for w in windows],
        prints=[w.prints for w in windows], changes=[None] * len(windows), config=cfg,
    )  # fmt: skip
    for w, e, ch, fr in zip(windows, enriched, chains, frs, strict=True):
        ref = analyze_flow(
            e, ch, history=w.history, prints=w.prints, config=cfg, contract_views=False,
            enriched=True,
        )  # fmt: skip
        _same_tables(ref.prints, fr.prints)  # type: ignore[attr-defined]
        _same_tables(ref.notable, fr.notable)  # type: ignore[attr-defined]
        _same_tables(ref.trades, fr.trades)  # type: ignore[attr-defined]


def test_one_ticker_each_is_the_per_table_check() -> None:
    def t(vals: list[str | None]) -> pa.Table:
        return pa.table({"ticker": pa.array(vals, pa.string())})

    tables = [t(["A", "A"]), t([]), t(["B", "C"]), t(["D"]), t(["A"])]
    assert bf._one_ticker_each(tables) == ["A", None, None, "D", "A"]
    assert bf._one_ticker_each([*tables, t(["E", None])]) == ["A", None, None, "D", "A", None]
    assert bf._one_ticker_each([t([]), t([])]) == [None, None]
