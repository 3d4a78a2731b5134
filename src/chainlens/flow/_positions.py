"""Flow-inferred dealer positions per contract (SPEC dealer model ``flow``).

Customers' signed open positions are accumulated from side-classified trades and reconciled
with open interest; the dealer holds the other side: ``dealer_position_contracts =
-customer_position_contracts``. The exposure engine's ``flow`` dealer model consumes the
``dealer_position_contracts`` column keyed by ``symbol``.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from chainlens.flow._side import BUY, SELL

__all__ = ["dealer_positions"]


def dealer_positions(
    trades: pa.Table | None,
    oi_history: pa.Table | None = None,
    *,
    include_multileg: bool = False,
) -> pa.Table:
    """Signed customer and dealer positions per contract from classified flow and OI.

    Parameters
    ----------
    trades
        Classified trades over one or more sessions (``trade_date``, ``symbol``, ``size``,
        ``side_code``; ``multileg`` if present). Mid and unknown trades carry no sign.
    oi_history
        Chain snapshots over sessions (``trade_date``, ``symbol``, ``open_interest``) giving
        the OI that bounds the positions. Optional.
    include_multileg
        Count legs of multi-leg orders (their price against the single-leg NBBO says little
        about their side, so they are left out by default).

    Returns
    -------
    pyarrow.Table
        ``symbol, net_flow_contracts, customer_position_contracts,
        dealer_position_contracts, open_interest, unknown_contracts, clipped_sessions``.

    Notes
    -----
    Sessions :math:`d_1 < \\dots < d_n` (union of trade and snapshot dates). With
    :math:`F_d = \\sum_{buy} q - \\sum_{sell} q` the classified net customer flow in session
    :math:`d` and :math:`B_d` the OI outstanding after the session:

    .. math::
        c_0 = 0, \\qquad c_d = \\operatorname{clip}(c_{d-1} + F_d,\\; -B_d,\\; B_d)

    :math:`B_d = OI(d_{+1})` (the snapshot of the next session: positions at the end of
    :math:`d`, SPEC OI timing) when known; otherwise :math:`OI(d) + V_d` (OI cannot grow by more
    than the session's traded contracts :math:`V_d`), or no bound if neither is known.
    **Reconciliation rule** when classified flow disagrees with the OI change: the sign comes
    from the flow, the magnitude is clipped so that :math:`|c_d| \\le B_d`; the rest of the
    open interest, :math:`B_n - |c_n|`, is reported as ``unknown_contracts`` (held by
    customer-vs-customer pairs or by flow the classifier could not sign).
    """
    frames = []
    if trades is not None and trades.num_rows:
        cols = ["trade_date", "symbol", "size", "side_code"]
        if "multileg" in trades.column_names:
            cols.append("multileg")
        t = pl.from_arrow(trades.select(cols))
        assert isinstance(t, pl.DataFrame)
        if "multileg" in t.columns and not include_multileg:
            t = t.filter(~pl.col("multileg"))
        sign = (
            pl.when(pl.col("side_code") == BUY)
            .then(1)
            .when(pl.col("side_code") == SELL)
            .then(-1)
            .otherwise(0)
        )
        frames.append(
            t.group_by(["symbol", "trade_date"]).agg(
                (sign * pl.col("size")).sum().cast(pl.Float64).alias("flow"),
                pl.col("size").sum().cast(pl.Float64).alias("vol"),
            )
        )
    if oi_history is not None and oi_history.num_rows:
        h = pl.from_arrow(oi_history.select(["trade_date", "symbol", "open_interest"]))
        assert isinstance(h, pl.DataFrame)
        h = h.group_by(["symbol", "trade_date"]).agg(
            pl.col("open_interest").last().cast(pl.Float64).alias("oi")
        )
    else:
        h = pl.DataFrame(schema={"symbol": pl.String, "trade_date": pl.Date, "oi": pl.Float64})
    if frames:
        f = frames[0]
    else:
        f = pl.DataFrame(
            schema={
                "symbol": pl.String,
                "trade_date": pl.Date,
                "flow": pl.Float64,
                "vol": pl.Float64,
            }
        )
    sessions = (
        pl.concat([f.select("trade_date"), h.select("trade_date")]).unique().sort("trade_date")
    )
    symbols = pl.concat([f.select("symbol"), h.select("symbol")]).unique().sort("symbol")
    ns, nc = sessions.height, symbols.height
    if nc == 0:
        return pa.table(
            {
                "symbol": pa.array([], pa.string()),
                "net_flow_contracts": pa.array([], pa.float64()),
                "customer_position_contracts": pa.array([], pa.float64()),
                "dealer_position_contracts": pa.array([], pa.float64()),
                "open_interest": pa.array([], pa.float64()),
                "unknown_contracts": pa.array([], pa.float64()),
                "clipped_sessions": pa.array([], pa.int64()),
            }
        )
    s_idx = sessions.with_row_index("si")
    c_idx = symbols.with_row_index("ci")

    def dense(df: pl.DataFrame, col: str) -> np.ndarray:
        m = np.full((nc, ns), np.nan)
        if df.height:
            d = df.join(c_idx, on="symbol").join(s_idx, on="trade_date")
            m[d["ci"].to_numpy(), d["si"].to_numpy()] = d[col].to_numpy()
        return m

    flow = np.nan_to_num(dense(f, "flow"))
    vol = np.nan_to_num(dense(f, "vol"))
    oi = dense(h, "oi")  # OI in the snapshot of session d = end of d-1
    bound_after = np.full((nc, ns), np.nan)
    bound_after[:, :-1] = oi[:, 1:]
    fallback = oi + vol
    bound = np.where(np.isnan(bound_after), fallback, bound_after)
    pos = np.zeros(nc)
    clipped = np.zeros(nc, dtype=np.int64)
    for d in range(ns):  # loop over sessions; every step is vectorized over contracts
        raw = pos + flow[:, d]
        b = bound[:, d]
        pos = np.where(np.isnan(b), raw, np.clip(raw, -np.nan_to_num(b), np.nan_to_num(b)))
        clipped += (pos != raw).astype(np.int64)
    last_b = bound[:, -1]
    return pa.table(
        {
            "symbol": symbols["symbol"].to_arrow(),
            "net_flow_contracts": pa.array(flow.sum(axis=1)),
            "customer_position_contracts": pa.array(pos),
            "dealer_position_contracts": pa.array(-pos + 0.0),
            "open_interest": pa.array(last_b, from_pandas=True),
            "unknown_contracts": pa.array(last_b - np.abs(pos), from_pandas=True),
            "clipped_sessions": pa.array(clipped),
        }
    )
