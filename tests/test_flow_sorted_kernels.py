"""The sorted-instant kernels of the trade enrichment against the Polars expressions they
replace (the references, written here from the rules of the docstrings):

* ``tag_multileg``'s same-instant rule: ``symbol.n_unique().over([underlying, ts]) >= 2``;
  the condition rule: ``condition`` upper-cased and stripped, in the set;
* ``detect_sweeps``: sort by (symbol, side, ts, row), a new burst where the symbol or side
  changes or the gap exceeds the window, ``exchange.n_unique().over(burst)``;
* the block flag: size and premium summed over a sweep (``sum().over(burst)``);
* ``print_events``: ``group_by(event, maintain_order=True)`` with the documented aggregations.

Edge cases: no trades, one trade, every trade a leg, every trade at one instant, nulls.
Integers, booleans and strings exactly; floats to 1e-12 relative.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens._engine import force
from chainlens.flow import DEFAULT_MULTILEG_CONDITIONS, FlowConfig, enrich_trades
from chainlens.flow._premium import tag_multileg
from chainlens.flow._prints import detect_sweeps, print_events

REL = 1e-12


def _ref_multileg(t: pa.Table, conditions: frozenset[str]) -> np.ndarray:
    df = pl.from_arrow(t.select(["underlying", "ts", "symbol", "condition"]))
    assert isinstance(df, pl.DataFrame)
    codes = sorted({c.strip().upper() for c in conditions})
    m = df.select(
        (
            pl.col("condition").str.strip_chars().str.to_uppercase().is_in(codes).fill_null(False)
            | (pl.col("symbol").n_unique().over(["underlying", "ts"]) >= 2)
        ).alias("m")
    )
    return np.asarray(m.to_series().to_numpy(), dtype=bool)


def _ref_sweeps(t: pa.Table, window_ms: float, min_exchanges: int) -> tuple[np.ndarray, np.ndarray]:
    df = pl.from_arrow(t.select(["ts", "symbol", "side_code", "exchange"]))
    assert isinstance(df, pl.DataFrame)
    df = df.with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"),
        pl.col("ts").cast(pl.Int64).alias("_t"),
    ).sort(["symbol", "side_code", "_t", "_row"])
    new = (
        (pl.col("symbol") != pl.col("symbol").shift(1))
        | (pl.col("side_code") != pl.col("side_code").shift(1))
        | ((pl.col("_t") - pl.col("_t").shift(1)) > int(round(window_ms * 1e6)))
    ).fill_null(True)
    df = df.with_columns(new.cast(pl.Int64).cum_sum().alias("_b"))
    df = df.with_columns(pl.col("exchange").n_unique().over("_b").alias("_nx")).sort("_row")
    return df["_b"].to_numpy().astype(np.int64), df["_nx"].to_numpy() >= min_exchanges


def _ref_blocks(e: pa.Table, cfg: FlowConfig) -> np.ndarray:
    df = pl.DataFrame(
        {
            "b": e["burst_id"].to_numpy(),
            "s": e["is_sweep"].to_numpy(zero_copy_only=False),
            "q": e["size"].to_numpy(),
            "p": e["premium_usd"].to_numpy(),
        }
    )
    df = df.with_columns(
        pl.when(pl.col("s")).then(pl.col("q").sum().over("b")).otherwise(pl.col("q")).alias("qq"),
        pl.when(pl.col("s")).then(pl.col("p").sum().over("b")).otherwise(pl.col("p")).alias("pp"),
    )
    return (df["qq"].to_numpy() >= cfg.block_min_contracts) | (
        df["pp"].to_numpy() >= cfg.block_min_premium_usd
    )


def _ref_events(trades: pa.Table) -> pa.Table:
    df = pl.from_arrow(trades)
    assert isinstance(df, pl.DataFrame)
    extra = [
        pl.col(c).any() if c in ("deep_itm", "synthetic") else pl.col(c).sum()
        for c in ("deep_itm", "synthetic", "delta_notional_usd")
        if c in df.columns
    ]
    df = df.with_columns(
        pl.when(pl.col("is_sweep"))
        .then(pl.col("burst_id"))
        .otherwise(-1 - pl.int_range(pl.len(), dtype=pl.Int64))
        .alias("_ev")
    )
    keys = ["underlying", "root", "symbol", "expiry", "strike", "right", "multiplier"]
    ev = df.group_by("_ev", maintain_order=True).agg(
        pl.col("ts").min(),
        pl.col("trade_date").first(),
        *[pl.col(k).first() for k in keys],
        pl.col("side_code").first(),
        pl.col("size").sum(),
        pl.col("premium_usd").sum(),
        ((pl.col("price") * pl.col("size")).sum() / pl.col("size").sum()).alias("price"),
        pl.len().cast(pl.Int64).alias("n_trades"),
        pl.col("exchange").n_unique().cast(pl.Int64).alias("n_exchanges"),
        pl.col("is_sweep").any(),
        pl.col("multileg").any(),
        pl.col("spot").drop_nulls().last(),
        pl.col("aggressiveness").mean(),
        *extra,
    )
    return ev.drop("_ev").to_arrow()


def _col_close(a: pa.ChunkedArray, b: pa.ChunkedArray) -> bool:
    if a.equals(b):
        return True
    if a.type != b.type or not pa.types.is_floating(a.type):
        return False
    if not a.is_null().equals(b.is_null()):
        return False
    x, y = pc.fill_null(a, 0.0).to_numpy(), pc.fill_null(b, 0.0).to_numpy()
    with np.errstate(invalid="ignore"):
        ok = (
            (x == y)
            | (np.isnan(x) & np.isnan(y))
            | (np.abs(x - y) <= REL * np.maximum(np.abs(x), np.abs(y)))
        )
    return bool(ok.all())


def _tape(rng: np.random.Generator, n: int, *, nulls: bool = True, instants: int = 6) -> pa.Table:
    """A random tape of two underlyings with few instants (so that instants are shared),
    few symbols and exchanges, and nulls where the schema allows them."""
    und = rng.choice(["AAA", "BBB"], n)
    k = rng.choice([100.0, 105.0], n)
    right = rng.choice(["C", "P"], n)
    sym = [f"{u}240315{r}{int(x * 1000):08d}" for u, r, x in zip(und, right, k, strict=True)]
    ts = rng.integers(0, instants, n) * 20_000_000  # 20 ms steps: inside a 50 ms window
    ex = rng.choice(["A", "B", "C", None] if nulls else ["A", "B", "C"], n).tolist()
    cond = rng.choice(["AUTO", " mlet ", "SLCN", None] if nulls else ["AUTO", "MLET"], n)
    bid = rng.choice([1.0, 1.0, np.nan] if nulls else [1.0], n)
    spot = rng.choice([100.0, np.nan] if nulls else [100.0], n)
    return pa.table(
        {
            "ts": pa.array(ts, pa.int64()).cast(pa.timestamp("ns", "UTC")),
            "trade_date": pa.array(np.full(n, np.datetime64("2024-03-01", "D"))),
            "underlying": und.tolist(),
            "root": und.tolist(),
            "symbol": sym,
            "expiry": pa.array(np.full(n, np.datetime64("2024-03-15", "D"))),
            "strike": k,
            "right": right.tolist(),
            "multiplier": pa.array(np.full(n, 100), pa.int32()),
            "price": rng.choice([1.0, 1.5, 2.0], n),
            "size": rng.integers(1, 2000, n),
            "bid": pa.array(bid, mask=np.isnan(bid)),
            "ask": np.full(n, 2.0),
            "exchange": pa.array(ex, pa.string()),
            "condition": pa.array(cond.tolist(), pa.string()),
            "spot": pa.array(spot, mask=np.isnan(spot)),
        }
    )


def _check(t: pa.Table, cfg: FlowConfig) -> tuple[int, int]:
    """Compare every kernel with its reference; (sweep rows, sweep rows in a block)."""
    ml = tag_multileg(t, conditions=cfg.multileg_conditions)
    assert (ml == _ref_multileg(t, cfg.multileg_conditions)).all()
    e = enrich_trades(t, cfg)
    b, s = _ref_sweeps(e, cfg.sweep_window_ms, cfg.sweep_min_exchanges)
    assert (e["burst_id"].to_numpy() == b).all()
    assert (e["is_sweep"].to_numpy(zero_copy_only=False) == s).all()
    assert (e["is_block"].to_numpy(zero_copy_only=False) == _ref_blocks(e, cfg)).all()
    got, ref = print_events(e), _ref_events(e)
    assert got.schema.equals(ref.schema), (got.schema, ref.schema)
    for name in ref.column_names:
        assert _col_close(got[name], ref[name]), name
    sweep = e["is_sweep"].to_numpy(zero_copy_only=False)
    block = e["is_block"].to_numpy(zero_copy_only=False)
    return int(sweep.sum()), int((sweep & block & (e["size"].to_numpy() < 2500)).sum())


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_sorted_kernels_equal_the_polars_expressions(engine: str) -> None:
    rng = np.random.default_rng(3)
    cfg = FlowConfig(block_min_contracts=2500)  # a few sweeps add up to a block
    seen = np.zeros(2, dtype=np.int64)
    with force(engine):  # type: ignore[arg-type]
        for _ in range(150):
            n = int(rng.integers(1, 50))
            seen += _check(_tape(rng, n, nulls=bool(rng.random() < 0.5)), cfg)
    assert (seen > 0).all(), seen  # sweeps, and blocks by a sweep's sums, were exercised


def test_edge_cases_one_trade_one_instant_all_legs() -> None:
    rng = np.random.default_rng(4)
    cfg = FlowConfig()
    _check(_tape(rng, 1), cfg)  # one trade
    one = _tape(rng, 40, instants=1)  # every trade at one instant: every trade a leg
    assert tag_multileg(one, conditions=DEFAULT_MULTILEG_CONDITIONS).all()
    _check(one, cfg)
    legs = _tape(rng, 30, nulls=False)  # every trade a leg by its condition
    legs = legs.set_column(
        legs.column_names.index("condition"), "condition", pa.array(["MLET"] * 30)
    )
    assert tag_multileg(legs, conditions=DEFAULT_MULTILEG_CONDITIONS, same_ts=False).all()
    _check(legs, cfg)


def test_no_trades() -> None:
    t = _tape(np.random.default_rng(5), 0)
    assert tag_multileg(t, conditions=DEFAULT_MULTILEG_CONDITIONS).shape == (0,)
    b, s = detect_sweeps(t.append_column("side_code", pa.array([], pa.int8())))
    assert b.shape == s.shape == (0,)
    e = enrich_trades(t, FlowConfig())
    got, ref = print_events(e), _ref_events(e)
    assert got.num_rows == 0 and got.schema.equals(ref.schema)


def test_many_chunks_and_integer_keys() -> None:
    """A chunked column (one dictionary for every chunk) and integer keys (the batched path's
    segment and symbol codes) give the same tags as one chunk of strings."""
    rng = np.random.default_rng(6)
    t = _tape(rng, 300)
    chunked = pa.Table.from_batches(t.to_batches(max_chunksize=7))
    conds = DEFAULT_MULTILEG_CONDITIONS
    assert (tag_multileg(chunked, conditions=conds) == tag_multileg(t, conditions=conds)).all()
    ints = t.set_column(
        t.column_names.index("symbol"),
        "symbol",
        pc.dictionary_encode(t["symbol"]).combine_chunks().indices.cast(pa.int64()),
    )
    assert (tag_multileg(ints, conditions=conds) == _ref_multileg(t, conds)).all()
