"""Flow kernels over a chunk of underlyings (segments), equal per segment to the flow
functions of :mod:`chainlens.flow` run on that segment alone.

* :func:`enrich_many`: :func:`chainlens.flow.enrich_trades` once over the concatenated trades;
  the grouping keys (``underlying``, ``symbol``) are made segment-unique during the call so no
  group spans two segments, and burst ids are renumbered per segment as the per-segment call
  numbers them.
* :func:`tag_moneyness_many`: :func:`chainlens.flow.tag_moneyness` once, each trade joined to
  its own segment's chain only.
* :func:`decompose_segmented`: :func:`chainlens.flow.decompose_premium` for every segment at
  once with ``np.bincount`` over (segment, key) group codes: one pass per bucket over the
  chunk instead of one Polars query per underlying.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens.flow._premium import CONTRACT_COLUMNS
from chainlens.flow._side import BUY, MID, SELL, UNKNOWN

__all__ = [
    "darkpool_many",
    "print_events_many",
    "notable_many",
    "decompose_segmented",
    "enrich_many",
    "row_weights",
    "segment_ids",
    "split_rows",
    "tag_moneyness_many",
]


def segment_ids(sizes: Sequence[int]) -> np.ndarray:
    """Segment index per row of a concatenation of tables with ``sizes`` rows (int64)."""
    return np.repeat(np.arange(len(sizes), dtype=np.int64), np.asarray(sizes, dtype=np.int64))


def split_rows(t: pa.Table, sizes: Sequence[int]) -> list[pa.Table]:
    """Zero-copy slices of ``t`` of ``sizes`` rows each, in order."""
    out, a = [], 0
    for n in sizes:
        out.append(t.slice(a, int(n)))
        a += int(n)
    return out


def _set(t: pa.Table, name: str, arr: pa.Array | pa.ChunkedArray) -> pa.Table:
    return t.set_column(t.column_names.index(name), t.schema.field(name), arr)


def enrich_many(parts: Sequence[pa.Table], config: object) -> list[pa.Table]:
    """:func:`chainlens.flow.enrich_trades` of each table of ``parts`` (non-empty trades of one
    underlying each), computed in one call over their concatenation.

    Equal per part to ``enrich_trades(part, config)``: every enrichment is row-wise or grouped
    by ``symbol`` / ``underlying`` (sides, premium, multi-leg and synthetic packages, bursts),
    and those keys are prefixed with the part's index during the call so that no group joins
    two parts; ``burst_id`` (a running number in (symbol, side, time) order) is renumbered
    densely per part, which is the per-part call's numbering. When every symbol lies in one
    part, its key is its dense rank in (part, symbol) order (the sweep sort then counts instead
    of comparing, :func:`chainlens.flow._keys.stable_argsort`). The symbol encoding is kept
    for :func:`tag_moneyness_chunk` of the same trades (:data:`_SYMBOL_CODES`).
    """
    from chainlens.flow import enrich_trades

    sizes = [p.num_rows for p in parts]
    if not sizes or min(sizes) == 0:
        raise ValueError("enrich_many needs non-empty parts (per-part path)")
    t = pa.concat_tables(list(parts)).combine_chunks()
    seg = segment_ids(sizes)
    und, sym = t.column("underlying"), t.column("symbol")
    # integer keys (cheaper to group than strings): underlying -> segment; symbol -> its rank
    # among (segment, symbol) pairs, so that sorting by it sorts by symbol within a segment
    # (dense when every symbol is in one segment, else segment * D + the symbol's rank)
    enc = pc.dictionary_encode(sym).combine_chunks()
    _remember_symbols(sym, enc)
    D = len(enc.dictionary)
    dict_rank = np.empty(D, dtype=np.int64)
    dict_rank[np.asarray(pc.array_sort_indices(enc.dictionary))] = np.arange(D)
    idx = enc.indices.to_numpy()
    home = np.zeros(D, dtype=np.int64)
    home[idx] = seg  # a segment of each symbol
    if bool((home[idx] == seg).all()):
        # every symbol in one segment: its rank in (segment, symbol) order, dense 0..D-1
        # (the same order as the sparse key below, so the sorts and burst ids are the same)
        dense = np.empty(D, dtype=np.int64)
        dense[np.lexsort((dict_rank, home))] = np.arange(D)
        sym_key = dense[idx]
    else:
        sym_key = seg * max(D, 1) + dict_rank[idx]
    tt = t.drop_columns(["underlying", "symbol"])
    tt = tt.append_column("underlying", pa.array(seg)).append_column("symbol", pa.array(sym_key))
    e = enrich_trades(tt, config)  # type: ignore[arg-type]
    e = e.drop_columns(["underlying", "symbol"])
    names = [*t.column_names, *[c for c in e.column_names if c not in t.column_names]]
    e = (
        e.append_column(t.schema.field("underlying"), und)
        .append_column(t.schema.field("symbol"), sym)
        .select(names)
    )
    burst = np.asarray(e.column("burst_id").to_numpy(), dtype=np.int64)
    # the burst ids (dense from 1, in (symbol key, side, time) order, the symbol key ordered
    # by segment first) of a segment are one contiguous range: renumbered from 1 per segment
    starts = np.cumsum([0, *sizes[:-1]])
    local = burst - np.minimum.reduceat(burst, starts)[seg] + 1 if burst.size else burst
    e = _set(e, "burst_id", pa.array(local))
    return split_rows(e, sizes)


#: The trade symbol encodings of the latest :func:`enrich_many` calls: ``(symbols, codes,
#: dictionary)`` with the one-chunk ``symbol`` column of the enriched trades, each row's index
#: in ``dictionary`` (null -> ``len(dictionary)``) and the dictionary (symbols in order of first
#: appearance). :func:`tag_moneyness_chunk` of those trades reuses it instead of encoding every
#: trade symbol again; the entries hold their arrays, so a buffer address seen here is theirs.
_SYMBOL_CODES: list[tuple[pa.Array, np.ndarray, pa.Array]] = []
_SYMBOL_CODES_KEPT = 2


def _remember_symbols(sym: pa.ChunkedArray, enc: pa.DictionaryArray) -> None:
    """Keep the encoding ``enc`` of the one-chunk symbol column ``sym`` (the latest two)."""
    if sym.num_chunks != 1:
        return
    d = enc.dictionary
    idx = np.asarray(pc.fill_null(enc.indices, len(d)).to_numpy(zero_copy_only=False), np.int64)
    _SYMBOL_CODES.append((sym.chunk(0), idx, d))
    del _SYMBOL_CODES[:-_SYMBOL_CODES_KEPT]


def _known_symbols(col: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array] | None:
    """``(codes, dictionary)`` of a symbol column whose every chunk is a slice of one column
    encoded by :func:`enrich_many` (the same buffers), from that encoding; else ``None``."""
    for base, idx, d in reversed(_SYMBOL_CODES):  # the latest first (at most two)
        bufs = base.buffers()
        lo, hi = base.offset, base.offset + len(base)
        parts = []
        for c in col.chunks:  # a loop over Arrow chunks (one per underlying)
            cb = c.buffers()
            if not (
                c.type == base.type
                and len(cb) == len(bufs)
                and all(
                    (x is None and y is None)
                    or (x is not None and y is not None and x.address == y.address)
                    for x, y in zip(cb[1:], bufs[1:], strict=True)
                )
                and lo <= c.offset
                and c.offset + len(c) <= hi
            ):
                break
            parts.append(idx[c.offset - lo : c.offset - lo + len(c)])
        else:
            if parts:
                return np.concatenate(parts), d
    return None


def tag_moneyness_many(
    parts: Sequence[pa.Table], chains: Sequence[pa.Table | None], config: object
) -> list[pa.Table]:
    """:func:`chainlens.flow.tag_moneyness` of each (trades, chain) pair in one call
    (:func:`tag_moneyness_chunk`, split back per pair). Equal per pair to the per-pair call."""
    t, sizes, _, _ = tag_moneyness_chunk(parts, chains, config)
    return split_rows(t, sizes)


def _f64_nan(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric column as ``float64`` NumPy, null -> NaN (no fill pass without nulls)."""
    c = col.cast(pa.float64())
    if c.null_count:
        c = pc.fill_null(c, np.nan)
    return np.asarray(c.to_numpy(), dtype=np.float64)


def _column(t: pa.Table, name: str) -> pa.ChunkedArray | None:
    """Column ``name`` of ``t``, ``None`` when absent (one schema lookup)."""
    i = t.schema.get_field_index(name)
    return t.column(i) if i >= 0 else None


def _symbol_codes(
    sym: pa.ChunkedArray, csym: Sequence[pa.ChunkedArray]
) -> tuple[np.ndarray, np.ndarray, int]:
    """The trade symbols' and the chain symbols' codes in one dictionary of every symbol
    (:func:`chainlens.flow._keys.encoded`; null -> the dictionary's length) and its length."""
    from chainlens.flow._keys import encoded

    if all(a.type == pa.string() for a in csym):  # the stored type: no cast per chain
        every = pa.chunked_array(
            [*sym.cast(pa.string()).chunks, *(k for a in csym for k in a.chunks)], pa.string()
        )
    else:
        every = pa.chunked_array(
            [*sym.cast(pa.string()).chunks, *(k for a in csym for k in a.cast(pa.string()).chunks)],
            type=pa.string(),
        )
    every = every.combine_chunks()  # one chunk: one fill_null in ``encoded``
    codes, d = encoded(every)
    n = len(sym)
    return codes[:n], codes[n:], len(d)


def tag_moneyness_chunk(
    parts: Sequence[pa.Table], chains: Sequence[pa.Table | None], config: object
) -> tuple[pa.Table, list[int], np.ndarray, bool]:
    """:func:`chainlens.flow.tag_moneyness` of each (trades, chain) pair in one call over the
    concatenated trades: ``(tagged, sizes, codes, unique)``, the tagged trades of every pair
    in order (pair ``i``'s rows ``sizes[:i].sum()`` onwards), each trade's ``symbol`` code in
    one dictionary of every trade and chain symbol (null: the dictionary's length), which
    :func:`group_levels` can use, and whether every chain symbol is non-null and in one
    chain only (what :func:`notable_many` checks).

    Each trade meets the chain rows of its own pair with its symbol (a null symbol meets
    none); of several, the last (``tag_moneyness``' ``group_by(symbol).last()``). The join is
    a lookup by code (chain rows sorted by code, the last of each run) when no symbol is in
    the chains of two pairs; otherwise one ``tag_moneyness`` call joins on the integer key
    ``pair * (D + 1) + code``. Then every column is row-wise
    (:func:`chainlens.flow._premium.moneyness_columns`): equal per pair to the per-pair call.
    """
    from chainlens.flow._keys import encoded
    from chainlens.flow._premium import moneyness_columns, tag_moneyness

    cfg = config
    sizes = [p.num_rows for p in parts]
    t = pa.concat_tables(list(parts))
    seg = segment_ids(sizes)
    sym = t.column("symbol")
    cols = ["symbol", "delta", "iv", "spot"]
    for c in chains:  # a loop over underlyings: the chain columns are there
        if c is None or c.schema.get_field_index("symbol") < 0:
            raise ValueError("every chain needs a symbol column (per-part path)")
    csizes = [c.num_rows for c in chains]  # type: ignore[union-attr]
    csym = [c.column("symbol") for c in chains]  # type: ignore[union-attr]
    n = t.num_rows
    known = _known_symbols(sym) if n else None
    if (
        known is not None
        and known[1].type == pa.string()
        and all(a.type == pa.string() for a in csym)
    ):
        # the trade symbols' encoding of enrich_many: only its dictionary (the distinct trade
        # symbols, in order of first appearance) and the chain symbols are encoded here; a
        # trade's code is its dictionary entry's code (the same codes as encoding every
        # trade symbol when these trades are the ones enrich_many encoded, and equal codes
        # for equal symbols in any case)
        tidx, tdict = known
        every = pa.chunked_array(
            [tdict, *(k for a in csym for k in a.chunks)], pa.string()
        ).combine_chunks()
        codes, d = encoded(every)
        D = len(d)
        tcode = np.append(codes[: len(tdict)], D)[tidx]
        ccode = codes[len(tdict) :]
    else:
        tcode, ccode, D = _symbol_codes(sym, csym)
    width = D + 1
    cseg = segment_ids(csizes)
    kw = {"deep_itm_delta": cfg.deep_itm_delta, "deep_itm_pct": cfg.deep_itm_pct}  # type: ignore[attr-defined]
    # the chain rows by code (stable: row order within a code), the last row of each code
    corder = np.argsort(ccode, kind="stable")
    cs = ccode[corder]
    last = np.ones(cs.size, dtype=bool)
    last[:-1] = cs[1:] != cs[:-1]
    first = np.ones(cs.size, dtype=bool)
    first[1:] = cs[1:] != cs[:-1]
    segs = cseg[corder]
    one_seg = bool((segs[1:] == segs[:-1])[~first[1:]].all()) if cs.size else True
    if one_seg:
        crow = np.full(width, -1, dtype=np.int64)
        crow[cs[last]] = corder[last]
        crow[D] = -1  # a null symbol meets no chain row
        r = crow[tcode]
        hit = r >= 0
        hit[hit] = cseg[r[hit]] == seg[hit]
        rr = np.where(hit, r, 0)

        def chain_col(x: str) -> np.ndarray:
            cs = [_column(c, x) for c in chains]
            ty = {None if a is None else a.type for a in cs}
            if len(ty) == 1 and None not in ty:  # one type: one chunked array, one cast
                v = _f64_nan(pa.chunked_array([k for a in cs for k in a.chunks], ty.pop()))  # type: ignore[union-attr]
                return np.where(hit, v[rr], np.nan) if v.size else np.full(n, np.nan)
            got = [
                c.column(x).cast(pa.float64()).chunks  # type: ignore[union-attr]
                if x in c.column_names  # type: ignore[union-attr]
                else [pa.nulls(c.num_rows, pa.float64())]  # type: ignore[union-attr]
                for c in chains
            ]  # a loop over underlyings: each chain's column (a no-op cast when float64)
            v = _f64_nan(pa.chunked_array([a for g in got for a in g], pa.float64()))
            return np.where(hit, v[rr], np.nan) if v.size else np.full(n, np.nan)

        t_spot = _f64_nan(t.column("spot")) if "spot" in t.column_names else np.full(n, np.nan)
        spot = np.where(np.isnan(t_spot), chain_col("spot"), t_spot)
        is_call = right_flags(t.column("right"))[0]
        days = _f64_nan(t.column("expiry").cast(pa.int32())) - _f64_nan(
            t.column("trade_date").cast(pa.int32())
        )
        out = moneyness_columns(
            t, spot, _f64_nan(t.column("strike")), is_call, np.abs(chain_col("delta")),
            chain_col("iv"), days, _f64_nan(t.column("size")), _f64_nan(t.column("multiplier")),
            **kw,
        )  # fmt: skip
        return out, sizes, tcode, bool((ccode != D).all())
    tt = t.set_column(
        t.column_names.index("symbol"), pa.field("symbol", pa.int64()),
        pa.array(seg * width + tcode, pa.int64(), mask=tcode == D),
    )  # fmt: skip
    ckey = cseg * width + ccode
    cparts = []
    off = np.cumsum([0, *csizes])
    for i, c in enumerate(chains):  # a loop over underlyings: each chain's columns
        assert c is not None
        have = [x for x in cols if x in c.column_names]
        c = c.select(have)
        for x in cols:
            if x not in have:
                c = c.append_column(x, pa.nulls(c.num_rows, pa.float64()))
        c = c.select(cols)
        a, b = int(off[i]), int(off[i + 1])
        key = pa.array(ckey[a:b], pa.int64(), mask=ccode[a:b] == D)
        c = c.set_column(0, pa.field("symbol", pa.int64()), key)
        cparts.append(c.cast(pa.schema([pa.field(x, c.schema.field(x).type) for x in cols])))
    ch = pa.concat_tables(cparts, promote_options="permissive")
    out = tag_moneyness(tt, ch, **kw)
    i_sym = out.column_names.index("symbol")
    return out.set_column(i_sym, t.schema.field("symbol"), sym), sizes, tcode, False


# --------------------------------------------------------------------------- decomposition


def _f64(t: pa.Table, name: str) -> np.ndarray:
    return _f64_nan(t.column(name))


def _bool(t: pa.Table, name: str) -> np.ndarray:
    if name not in t.column_names:
        return np.zeros(t.num_rows, dtype=bool)
    c = t.column(name)
    if c.null_count:
        c = pc.fill_null(c, False)
    return np.asarray(c.to_numpy(zero_copy_only=False), bool)


def _labels(diff: np.ndarray, total: np.ndarray, eps: float) -> pa.Array:
    """``bullish`` if diff > eps·total, ``bearish`` if diff < -eps·total, else ``neutral``."""
    with np.errstate(invalid="ignore"):
        code = np.where(diff > eps * total, 0, np.where(diff < -eps * total, 1, 2))
    return _LABEL_NAMES.take(pa.array(code, pa.int8()))


_LABEL_NAMES = pa.array(["bullish", "bearish", "neutral"], pa.large_string())


def _ratio(num: np.ndarray, den: np.ndarray, ok: np.ndarray) -> pa.Array:
    with np.errstate(invalid="ignore", divide="ignore"):
        v = num / np.where(ok, den, 1.0)
    return pa.array(np.where(ok, v, 0.0), pa.float64(), mask=~ok)


#: The summed columns of the decomposition, in output order (``call_premium_usd``,
#: ``put_premium_usd`` and ``trades`` follow ``total_usd``), each keyed in :func:`row_weights`.
_BUCKETS = (
    "calls_bought_usd", "calls_sold_usd", "puts_bought_usd", "puts_sold_usd", "mid_usd",
    "unknown_usd", "multileg_usd", "total_usd", "deep_itm_usd", "synthetic_usd", "excluded_usd",
    "dir_calls_bought_usd", "dir_calls_sold_usd", "dir_puts_bought_usd", "dir_puts_sold_usd",
    "dir_call_premium_usd", "dir_put_premium_usd", "delta_bullish_usd", "delta_bearish_usd",
    "delta_notional_usd",
)  # fmt: skip


class _Rows(NamedTuple):
    """The row inputs of the decomposition buckets (one array per column, one entry per row)."""

    prem: np.ndarray  # premium, USD (finite)
    call: np.ndarray  # right == "C" (null: False)
    put: np.ndarray  # right == "P" (null: False)
    code: np.ndarray  # side code (int8; null -> a float NaN array, as Arrow gives it)
    ml: np.ndarray  # multi-leg
    deep: np.ndarray  # deep in the money
    syn: np.ndarray  # synthetic package leg
    dn: np.ndarray  # delta notional, USD (NaN when unknown)
    size: np.ndarray | None  # contracts (float64), when the trades carry ``size``


def right_flags(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(right == "C", right == "P")`` per row of a ``right`` column (null: False, False).

    A string column without nulls whose every value is one byte long (the stored ``C`` /
    ``P``) is read from its bytes: the first byte of each value compared with ``C`` and
    ``P``, which is the string comparison for one-byte strings. Anything else goes through
    ``pyarrow.compute.equal``.
    """
    a = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(a)
    if n and a.null_count == 0 and (pa.types.is_string(a.type) or pa.types.is_large_string(a.type)):
        bufs = a.buffers()
        odt = np.int64 if pa.types.is_large_string(a.type) else np.int32
        offs = np.frombuffer(bufs[1], dtype=odt)[a.offset : a.offset + n + 1]
        if bufs[2] is not None and bool((np.diff(offs) == 1).all()):
            ch = np.frombuffer(bufs[2], dtype=np.uint8)[offs[:-1]]
            return ch == ord("C"), ch == ord("P")
    call = np.asarray(pc.fill_null(pc.equal(a, "C"), False).to_numpy(zero_copy_only=False), bool)
    put = np.asarray(pc.fill_null(pc.equal(a, "P"), False).to_numpy(zero_copy_only=False), bool)
    return call, put


def _row_inputs(trades: pa.Table) -> _Rows:
    """The columns :func:`row_weights` reads, as NumPy arrays; refuses a non-finite premium."""
    prem = _f64(trades, "premium_usd")
    if not np.isfinite(prem).all():
        raise ValueError("non-finite premium")
    n = trades.num_rows
    call, put = right_flags(trades.column("right"))
    if "delta_notional_usd" in trades.column_names:
        dn = _f64(trades, "delta_notional_usd")
    else:
        dn = np.full(n, np.nan)
    return _Rows(
        prem=prem, call=call, put=put, code=trades.column("side_code").to_numpy(),
        ml=_bool(trades, "multileg"), deep=_bool(trades, "deep_itm"),
        syn=_bool(trades, "synthetic"), dn=dn,
        size=_f64(trades, "size") if "size" in trades.column_names else None,
    )  # fmt: skip


def row_weights(trades: pa.Table, rows: _Rows | None = None) -> dict[str, np.ndarray]:
    """Per row, what each summed column of the decomposition adds for that row: the row's
    premium (USD) where the row belongs to the bucket, else 0 (the ``delta_*`` buckets: its
    delta notional, USD, where known). Row-wise, so one computation serves every grouping.
    ``rows``: :func:`_row_inputs` of ``trades`` when the caller has them."""
    r = rows if rows is not None else _row_inputs(trades)
    prem, call, put, code, ml, deep, syn, dn = (
        r.prem, r.call, r.put, r.code, r.ml, r.deep, r.syn, r.dn
    )  # fmt: skip
    single = ~ml
    keep = ~deep & ~syn
    dsingle = single & keep
    dn_ok = ~np.isnan(dn)
    buy, sell = code == BUY, code == SELL

    def bucket(mask: np.ndarray) -> np.ndarray:
        return np.where(mask, prem, 0.0)

    def dbucket(mask: np.ndarray) -> np.ndarray:
        return np.where(mask & dn_ok, dn, 0.0)

    out = {
        "calls_bought_usd": bucket(single & call & buy),
        "calls_sold_usd": bucket(single & call & sell),
        "puts_bought_usd": bucket(single & put & buy),
        "puts_sold_usd": bucket(single & put & sell),
        "mid_usd": bucket(single & (code == MID)),
        "unknown_usd": bucket(single & (code == UNKNOWN)),
        "multileg_usd": bucket(ml),
        "total_usd": prem,
        "call_premium_usd": bucket(call),
        "put_premium_usd": bucket(put),
        "deep_itm_usd": bucket(deep),
        "synthetic_usd": bucket(syn & ~deep),
        "excluded_usd": bucket(~keep),
        "dir_calls_bought_usd": bucket(dsingle & call & buy),
        "dir_calls_sold_usd": bucket(dsingle & call & sell),
        "dir_puts_bought_usd": bucket(dsingle & put & buy),
        "dir_puts_sold_usd": bucket(dsingle & put & sell),
        "dir_call_premium_usd": bucket(keep & call),
        "dir_put_premium_usd": bucket(keep & put),
        "delta_bullish_usd": dbucket(dsingle & ((call & buy) | (put & sell))),
        "delta_bearish_usd": dbucket(dsingle & ((call & sell) | (put & buy))),
        "delta_notional_usd": dbucket(keep),
    }
    if r.size is not None:  # issue 11: contracts per side bucket
        size = r.size
        for k, m in zip(_CONTRACT_BUCKETS, ((single & call & buy), (single & call & sell),
                                            (single & put & buy), (single & put & sell)), strict=True):  # fmt: skip
            out[k] = np.where(m, size, 0.0)
    return out


#: Row-weight keys of the contracts bought/sold buckets (calls bought, calls sold, puts bought,
#: puts sold), present in :func:`row_weights` when the trades carry ``size``.
_CONTRACT_BUCKETS = ("#calls_bought", "#calls_sold", "#puts_bought", "#puts_sold")

#: Trades per chunk from which the compiled decomposition sums run in auto mode (below it the
#: ``bincount`` twin is as fast as loading the kernel).
COMPILED_MIN_ROWS = 20_000


def level_sums(
    trades: pa.Table,
    codes: Sequence[np.ndarray],
    n_groups: Sequence[int],
    *,
    weights: dict[str, np.ndarray] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Per grouping level ``l`` (rows grouped by ``codes[l]``, codes ``0..n_groups[l]-1``),
    every :func:`row_weights` column summed per group (USD; the ``#`` keys contracts) and
    ``trades``, the rows per group (int64).

    Each group's rows are added in row order from ``+0.0``: ``np.bincount(codes[l],
    weights=w)`` per key (NumPy), or one compiled pass over the rows for every level and key
    at once (:mod:`chainlens.batched._flow_numba`, engine policy
    :func:`chainlens._engine.use_numba` with :data:`COMPILED_MIN_ROWS`), bit-identical.
    Refuses a non-finite premium (``ValueError``).
    """
    from chainlens._engine import use_numba

    n = trades.num_rows
    rows = _row_inputs(trades) if weights is None else None
    side = trades.column("side_code")
    if (
        rows is not None
        and codes
        and side.null_count == 0
        and pa.types.is_integer(side.type)
        and use_numba(n, COMPILED_MIN_ROWS)
    ):
        from chainlens.batched._flow_numba import KEYS, bucket_sums

        off = np.concatenate([[0], np.cumsum(n_groups)]).astype(np.int64)
        cm = np.empty((len(codes), n), dtype=np.int64)
        for lv, cd in enumerate(codes):  # a loop over the (up to 3) grouping levels
            cm[lv] = cd
        size = rows.size if rows.size is not None else np.zeros(n)
        acc, cnt = bucket_sums(
            cm, off, int(off[-1]), rows.prem, rows.call, rows.put,
            np.asarray(rows.code, dtype=np.int8), rows.ml, rows.deep, rows.syn, rows.dn,
            size, BUY, SELL, MID, UNKNOWN,
        )  # fmt: skip
        acc = np.ascontiguousarray(acc.T)
        out = []
        for lv in range(len(codes)):  # a loop over the grouping levels
            a, b = int(off[lv]), int(off[lv + 1])
            s = {k: acc[j, a:b] for j, k in enumerate(KEYS)}
            if rows.size is None:
                for k in _CONTRACT_BUCKETS:
                    del s[k]
            s["trades"] = cnt[a:b]
            out.append(s)
        return out
    w = weights if weights is not None else row_weights(trades, rows)
    out = []
    for cd, g in zip(codes, n_groups, strict=True):  # a loop over the grouping levels
        s = {k: np.bincount(cd, weights=v, minlength=g) for k, v in w.items()}
        s["trades"] = np.bincount(cd, minlength=g).astype(np.int64)
        out.append(s)
    return out


def _key_arrays(trades: pa.Table, keys: Sequence[str]) -> list[np.ndarray]:
    """``expiry`` (int64 days) and ``strike`` (float64, -0.0 as 0.0) of ``keys`` as NumPy
    arrays; refuses a null key or a NaN strike (``ValueError``)."""
    out = []
    for k in keys:  # a loop over the (up to 2) key columns
        col = trades.column(k)
        if col.null_count:
            raise ValueError(f"null {k}")
        arr = (
            col.cast(pa.int32()).cast(pa.int64()) if k == "expiry" else col.cast(pa.float64())
        ).to_numpy()
        if k == "strike" and np.isnan(arr).any():
            raise ValueError("NaN strike")
        out.append(arr + 0 if k == "strike" else arr)
    return out


def group_levels(
    trades: pa.Table,
    seg: np.ndarray,
    n_seg: int,
    keys: Sequence[str],
    *,
    symbol_codes: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The groupings of the rows by (segment, ``keys[:j]``) for ``j = 0..len(keys)``: per
    level, ``(codes, first, g_seg)``: each row's group (groups numbered in (segment, keys)
    order), a row of each group, and each group's segment.

    ``keys`` is ``()``, ``("expiry",)`` or ``("expiry", "strike")``. When every contract
    (``symbol``; ``symbol_codes``: its dictionary codes, when the caller has them) lies in
    one segment and has one expiry and one non-zero strike, the contracts are sorted instead
    of the rows (one ``lexsort`` of the chunk's contracts instead of one of its trades);
    otherwise the rows are sorted once, by (segment, keys). The groups and their order are
    the same either way (a group is the set of rows with its key values), and so are the key
    values of every row of a group (``first`` may be any of its rows).
    """
    n = trades.num_rows
    present = np.bincount(seg, minlength=n_seg) > 0
    g_seg0 = np.flatnonzero(present)
    remap = np.cumsum(present) - 1
    out = [(remap[seg], np.searchsorted(seg, g_seg0), g_seg0)]
    if not keys:
        return out
    karr = _key_arrays(trades, keys)
    sort_rows: np.ndarray | None = None  # the rows (or contracts) to sort
    sym = None
    if (
        n
        and (symbol_codes is not None or "symbol" in trades.column_names)
        and (len(keys) < 2 or bool((karr[1] != 0).all()))
    ):
        sym = symbol_codes
        if sym is None:
            from chainlens.flow._keys import encoded

            sym = encoded(trades.column("symbol"))[0]
        rep = np.full(int(sym.max()) + 1, -1, dtype=np.int64)
        rep[sym] = np.arange(n, dtype=np.int64)  # a row of each contract
        r = rep[sym]
        same = (seg[r] == seg).all() and all((a[r] == a).all() for a in karr)
        if same:
            sort_rows = rep[rep >= 0]
    if sort_rows is None:
        sym, sort_rows = None, np.arange(n, dtype=np.int64)
    ks = [a[sort_rows] for a in karr]
    order = np.lexsort((*ks[::-1], seg[sort_rows]))
    m = order.size
    srt = sort_rows[order]  # rows in (segment, keys) order
    new = np.zeros(m, dtype=bool)
    if m:
        new[0] = True
        s = seg[srt]
        new[1:] = s[1:] != s[:-1]
    for a in karr:  # a loop over the (up to 2) key columns: one more level each
        b = a[srt]
        if m:
            new[1:] |= b[1:] != b[:-1]
        gid = np.cumsum(new) - 1
        if sym is None:
            codes = np.empty(n, dtype=np.int64)
            codes[srt] = gid
        else:
            cmap = np.empty(int(sym.max()) + 1 if n else 0, dtype=np.int64)
            cmap[sym[srt]] = gid
            codes = cmap[sym]
        first = srt[new]
        out.append((codes, first, seg[first]))
    return out


def decompose_levels(
    trades: pa.Table,
    seg: np.ndarray,
    n_seg: int,
    keys: Sequence[str],
    *,
    label_epsilon: float = 0.0,
    symbol_codes: np.ndarray | None = None,
    weights: dict[str, np.ndarray] | None = None,
) -> list[tuple[pa.Table, np.ndarray]]:
    """:func:`decompose_segmented` by ``("underlying", *keys[:j])`` for every
    ``j = 0..len(keys)`` (``keys``: ``()``, ``("expiry",)`` or ``("expiry", "strike")``), the
    groupings made together (:func:`group_levels`) and summed in one pass (:func:`level_sums`).
    Each ``(table, offsets)`` equals that of :func:`decompose_segmented` with the same ``by``.
    """
    levels = group_levels(trades, seg, n_seg, keys, symbol_codes=symbol_codes)
    sums = level_sums(
        trades, [lv[0] for lv in levels], [lv[2].size for lv in levels], weights=weights
    )
    out = []
    for j, ((_, first, g_seg), s) in enumerate(zip(levels, sums, strict=True)):
        offsets = np.searchsorted(g_seg, np.arange(n_seg + 1), side="left").astype(np.int64)
        cols: dict[str, pa.Array | np.ndarray] = {
            "underlying": pc.cast(
                trades.column("underlying").take(pa.array(first)), pa.large_string()
            ).combine_chunks()
        }
        for k in keys[:j]:
            cols[k] = trades.column(k).take(pa.array(first)).combine_chunks()
        out.append((_decomposition(cols, s, int(g_seg.size), label_epsilon), offsets))
    return out


def decompose_segmented(
    trades: pa.Table,
    seg: np.ndarray,
    n_seg: int,
    by: Sequence[str],
    *,
    label_epsilon: float = 0.0,
    weights: dict[str, np.ndarray] | None = None,
    symbol_codes: np.ndarray | None = None,
) -> tuple[pa.Table, np.ndarray]:
    """:func:`chainlens.flow.decompose_premium` of every segment at once.

    Parameters
    ----------
    trades
        Enriched trades of a chunk (``right``, ``side_code``, ``premium_usd``, ``multileg``,
        optional ``deep_itm``, ``synthetic``, ``delta_notional_usd``, and the ``by`` keys),
        rows of segment 0 first, then 1...; each segment holds one ``underlying`` value.
    seg
        Segment index per row (non-decreasing).
    n_seg
        Number of segments.
    by
        ``()``, ``("underlying",)``, ``("underlying", "expiry")`` or
        ``("underlying", "expiry", "strike")``.

    Returns
    -------
    table, offsets
        The rows of every segment's decomposition, segment after segment, each segment's rows
        sorted by its keys (the per-segment call's order); ``offsets[i]:offsets[i+1]`` are the
        rows of segment ``i``. Same columns, types and formulas as ``decompose_premium``
        (``()`` gives one row per segment without a key column).

    weights
        :func:`row_weights` of ``trades`` when the caller already has them; computed here
        otherwise (or summed by the compiled kernel, see :func:`level_sums`).
    symbol_codes
        Dictionary codes of ``trades``' ``symbol`` when the caller has them
        (:func:`group_levels`).

    Notes
    -----
    Sums are per group in row order (``np.bincount`` or its compiled twin, bit-identical;
    ``decompose_premium`` sums with Polars; the two agree to rounding, ~1e-16 relative).
    Raises ``ValueError`` on a null or NaN key or a non-finite premium (the labels' NaN
    ordering differs between Polars and NumPy): the caller then uses the per-segment path.
    """
    keys = list(by)
    if keys and keys[0] != "underlying":
        raise ValueError("by must start with underlying")
    t, off = decompose_levels(
        trades, seg, n_seg, keys[1:], label_epsilon=label_epsilon, symbol_codes=symbol_codes,
        weights=weights,
    )[-1]  # fmt: skip
    return (t if keys else t.drop_columns(["underlying"])), off


def _decomposition(
    cols: dict[str, pa.Array | np.ndarray], s: dict[str, np.ndarray], G: int, eps: float
) -> pa.Table:
    """The decomposition table of ``G`` groups: the key columns ``cols``, the group sums ``s``
    (:func:`level_sums`) and the shares, ratios and labels derived from them."""
    c = dict(cols)
    for name in _BUCKETS:
        c[name] = s[name]
        if name == "total_usd":
            c["call_premium_usd"] = s["call_premium_usd"]
            c["put_premium_usd"] = s["put_premium_usd"]
            c["trades"] = s["trades"]
    eps = float(eps)
    f = {k: v for k, v in c.items() if isinstance(v, np.ndarray)}
    total = f["total_usd"]
    bull = f["calls_bought_usd"] + f["puts_sold_usd"]
    bear = f["calls_sold_usd"] + f["puts_bought_usd"]
    net = bull - bear
    pos = total > 0
    c["bullish_usd"], c["bearish_usd"], c["net_usd"] = bull, bear, net
    with np.errstate(invalid="ignore", divide="ignore"):
        c["unknown_share"] = _ratio(f["mid_usd"] + f["unknown_usd"], total, pos)
        c["directional_share"] = _ratio(bull + bear, total, pos)
    cp, pp = f["call_premium_usd"], f["put_premium_usd"]
    c["naive_cp_ratio"] = _ratio(cp, pp, pp > 0)
    naive = _labels(cp - pp, total, eps)
    side = _labels(net, bull + bear, eps)
    c["naive_label"], c["side_label"] = naive, side
    c["flip"] = pc.not_equal(naive, side)
    dbull = f["dir_calls_bought_usd"] + f["dir_puts_sold_usd"]
    dbear = f["dir_calls_sold_usd"] + f["dir_puts_bought_usd"]
    c["dir_bullish_usd"], c["dir_bearish_usd"] = dbull, dbear
    c["excluded_share"] = _ratio(f["excluded_usd"], total, pos)
    dcp, dpp = f["dir_call_premium_usd"], f["dir_put_premium_usd"]
    c["dir_naive_cp_ratio"] = _ratio(dcp, dpp, dpp > 0)
    dnaive = _labels(dcp - dpp, dcp + dpp, eps)
    c["dir_naive_label"] = dnaive
    c["delta_net_usd"] = f["delta_bullish_usd"] - f["delta_bearish_usd"]
    dnet = dbull - dbear
    c["dir_net_usd"] = dnet
    dside = _labels(dnet, dbull + dbear, eps)
    c["dir_side_label"] = dside
    c["dir_flip"] = pc.not_equal(dnaive, dside)
    # issue 11: contracts per side bucket (decompose_premium's CONTRACT_COLUMNS), same trades
    if _CONTRACT_BUCKETS[0] in s:
        cb, cs, pb, ps = (s[k] for k in _CONTRACT_BUCKETS)
        cc = [cb, cs, pb, ps, cb - cs, pb - ps, cb - cs + pb - ps]
        for k, v in zip(CONTRACT_COLUMNS, cc, strict=True):
            c[k] = v
    else:
        for k in CONTRACT_COLUMNS:
            c[k] = pa.nulls(G, pa.float64())
    return pa.table(c)


# --------------------------------------------------------------------------- the flow result


def flow_many(
    enriched: Sequence[pa.Table],
    chains: Sequence[pa.Table],
    *,
    histories: Sequence[pa.Table | None],
    prints: Sequence[pa.Table | None],
    changes: Sequence[pa.Table | None],
    config: object,
) -> list[object]:
    """:func:`chainlens.flow.analyze_flow` (``contract_views=False``, ``enriched=True``) of
    each underlying of a chunk: the moneyness tags and the four premium decompositions
    (whole, per ticker, per expiry, per strike) in one segmented pass each; the prints,
    notable prints and dark pool per underlying (their own small frames).

    Each :class:`~chainlens.flow.FlowResult` equals the per-underlying call's, the
    decomposition sums to rounding (see :func:`decompose_segmented`).
    """
    from dataclasses import asdict

    from chainlens.flow._analyze import FlowResult, side_mix_many
    from chainlens.flow._premium import flip_summary_many, tag_synthetic

    cfg = config
    parts = [
        t
        if "synthetic" in t.column_names
        else t.append_column("synthetic", pa.array(tag_synthetic(t)))
        for t in enriched
    ]
    cat, sizes, sym_codes, chain_unique = tag_moneyness_chunk(parts, chains, cfg)
    tagged = split_rows(cat, sizes)
    seg = segment_ids(sizes)
    ns = len(sizes)
    eps = cfg.label_epsilon  # type: ignore[attr-defined]
    # the three groupings made together and summed in one pass
    lv = decompose_levels(
        cat, seg, ns, ("expiry", "strike"), label_epsilon=eps, symbol_codes=sym_codes
    )
    dec: dict[tuple[str, ...], tuple[pa.Table, np.ndarray]] = {
        ("underlying",): lv[0], ("underlying", "expiry"): lv[1],
        ("underlying", "expiry", "strike"): lv[2],
    }  # fmt: skip
    # the whole-segment decomposition: the per-ticker rows (one group per segment, the same
    # sums) without the key column
    t_u, off_u = dec[("underlying",)]
    dec[()] = (t_u.drop_columns(["underlying"]), off_u)

    def part(by: tuple[str, ...], i: int) -> pa.Table:
        t, off = dec[by]
        return t.slice(int(off[i]), int(off[i + 1] - off[i]))

    dps, tws = darkpool_many(prints, cfg)
    ev_all, ev_counts = (
        _print_events_chunk(cat, sizes) if cat.num_rows else (None, np.zeros(ns, np.int64))
    )
    evs = print_events_many(tagged) if ev_all is None else split_rows(ev_all, ev_counts.tolist())
    settings = asdict(cfg)  # type: ignore[call-overload]
    settings["multileg_conditions"] = sorted(cfg.multileg_conditions)  # type: ignore[attr-defined]
    pre: list[tuple[pa.Table, dict[str, object], pa.Table | None, float]] = []
    wholes = dec[()][0].to_pylist()  # one record per segment with trades
    flips = flip_summary_many(t_u, off_u)
    all_stats = contract_stats_many(cat, sizes, histories, changes)
    for i in range(ns):  # a loop over underlyings: totals
        by_ticker = part(("underlying",), i)
        whole = wholes[int(off_u[i]) : int(off_u[i + 1])]
        totals = whole[0] if whole else {}
        totals.update(flips[i])
        stats = all_stats[i]
        min_prem = max(
            cfg.notable_min_premium_usd,  # type: ignore[attr-defined]
            cfg.notable_min_premium_share * float(totals.get("total_usd") or 0.0),  # type: ignore[attr-defined]
        )
        totals["notable_min_premium_usd"] = min_prem
        pre.append((by_ticker, totals, stats, min_prem))
    notables = notable_many(
        evs, chains, [p[2] for p in pre], [p[3] for p in pre],
        top_n=cfg.notable_top_n,  # type: ignore[attr-defined]
        chain_symbols_unique=chain_unique or None, events_table=ev_all,
    )  # fmt: skip
    mixes = side_mix_many(cat, seg, ns)
    out: list[object] = []
    for i, t in enumerate(tagged):  # a loop over underlyings: the results
        by_ticker, totals, _, _ = pre[i]
        out.append(
            FlowResult(
                trades=t, by_ticker=by_ticker, by_expiry=part(("underlying", "expiry"), i),
                by_strike=part(("underlying", "expiry", "strike"), i), totals=totals,
                side_mix=mixes[i], prints=evs[i], notable=notables[i], contract_scores=None,
                dealer_positions=None, darkpool=dps[i], twap=tws[i], settings=dict(settings),
            )
        )  # fmt: skip
    return out


_STATS_IN = ["symbol", "avg_volume_5d", "oi_change"]
_STATS_OUT = ["symbol", "avg_volume_5d", "oi_change_next"]


def _contract_stats(
    t: pa.Table, history: pa.Table | None, changes: pa.Table | None
) -> pa.Table | None:
    """The contract stats of one underlying's flow (``analyze_flow``'s): its OI changes
    (``changes``, else ``oi_changes(history)``) on the sessions of its trades ``t``,
    ``symbol, avg_volume_5d, oi_change_next``; ``None`` without history."""
    if history is None or not history.num_rows:
        return None
    from chainlens.oi._changes import oi_changes

    sessions = t.column("trade_date").unique().to_pylist() if t.num_rows else []
    ch = oi_changes(history) if changes is None else changes
    if sessions:
        ch = ch.filter(pc.is_in(ch.column("trade_date"), value_set=pa.array(sessions)))
    return ch.select(_STATS_IN).rename_columns(_STATS_OUT)


def _days(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A ``date32`` column as int64 days (nulls: the caller checks)."""
    return np.asarray(col.cast(pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int64)


def contract_stats_many(
    trades: pa.Table,
    sizes: Sequence[int],
    histories: Sequence[pa.Table | None],
    changes: Sequence[pa.Table | None],
) -> list[pa.Table | None]:
    """:func:`_contract_stats` of every segment of ``trades`` (``sizes`` rows each, in order)
    with its history and OI changes, in one filter over the concatenated changes.

    Each segment's trades hold one session ``D`` (checked: else that segment is computed
    alone), so its stats are the rows of its changes with ``trade_date == D`` (a null date
    is not ``D``: ``is_in`` without null in the value set), as the per-segment filter keeps
    them, in row order: each result is a slice of the one filtered table, equal to the
    per-segment table. Segments whose changes are not given, or not of one schema, are
    computed alone.
    """
    n = len(sizes)
    out: list[pa.Table | None] = [None] * n
    td = trades.column("trade_date")
    one_day = np.zeros(n, dtype=bool)  # the segment's trades hold one session
    day = np.zeros(n, dtype=np.int64)
    if n and td.null_count == 0 and pa.types.is_date32(td.type) and min(sizes) > 0:
        days = _days(td)
        starts = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
        day = np.minimum.reduceat(days, starts)
        one_day = day == np.maximum.reduceat(days, starts)
    batch: list[int] = []
    schema: pa.Schema | None = None
    for i in range(n):  # a loop over underlyings: which ones join the one filter
        h, ch = histories[i], changes[i]
        if h is None or not h.num_rows:
            continue
        if (
            ch is not None
            and one_day[i]
            and "trade_date" in ch.column_names
            and pa.types.is_date32(ch.schema.field("trade_date").type)
            and (schema is None or ch.schema.equals(schema))
        ):
            schema = ch.schema if schema is None else schema
            batch.append(i)
    rest = set(range(n)) - set(batch)
    if rest:
        starts = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
        for i in sorted(rest):  # a loop over underlyings: the per-segment path
            t = trades.slice(int(starts[i]), int(sizes[i]))
            out[i] = _contract_stats(t, histories[i], changes[i])
    if not batch:
        return out
    chs = [changes[i] for i in batch]
    cat = pa.concat_tables(chs)
    csz = np.asarray([c.num_rows for c in chs], dtype=np.int64)  # type: ignore[union-attr]
    cd = cat.column("trade_date").cast(pa.int32())
    lo = np.iinfo(np.int32).min
    keep = np.asarray(pc.fill_null(cd, lo).to_numpy(), np.int64) == np.repeat(day[batch], csz)
    if cd.null_count:  # a null date is no session
        keep &= np.asarray(pc.is_valid(cd).to_numpy(zero_copy_only=False), dtype=bool)
    got = cat.select(_STATS_IN).filter(pa.array(keep)).rename_columns(_STATS_OUT)
    seg = np.repeat(np.arange(len(batch), dtype=np.int64), csz)
    kept = np.bincount(seg[keep], minlength=len(batch))
    for i, g in zip(batch, split_rows(got, kept.tolist()), strict=True):
        out[i] = g
    return out


def _by_key(t: pa.Table, col: str) -> dict[str, pa.Table]:
    """Zero-copy slices of ``t`` per value of ``col`` (``t`` is sorted by ``col``)."""
    if t.num_rows == 0:
        return {}
    enc = pc.dictionary_encode(t.column(col)).combine_chunks()
    idx = enc.indices.to_numpy()
    cuts = np.flatnonzero(np.diff(idx)) + 1
    starts, ends = np.r_[0, cuts], np.r_[cuts, idx.size]
    names = enc.dictionary.to_pylist()
    return {names[idx[a]]: t.slice(int(a), int(b - a)) for a, b in zip(starts, ends, strict=True)}


#: The prints columns :func:`chainlens.flow.darkpool_summary` and
#: :func:`chainlens.flow.detect_twap` read.
_PRINT_COLUMNS = ("ts", "ticker", "price", "size", "bid", "ask")


def twap_candidates(
    prints: pa.Table, ticker: np.ndarray, *, min_slices: int, size_tolerance: float
) -> np.ndarray | None:
    r"""The rows of ``prints`` that can belong to a program of
    :func:`chainlens.flow.detect_twap` (``ticker``: an integer code per row, equal codes for
    equal tickers), or ``None``: keep every row.

    A program is a (ticker, size bucket) group of at least ``min_slices`` prints of positive
    size, and its statistics read only its own rows; so ``detect_twap`` of the rows of groups
    that big (in row order) is ``detect_twap`` of every row. The bucket
    :math:`\operatorname{round}(\ln q / \ln(1 + \text{tol}))` is computed here with NumPy;
    a value within 1e-9 of a rounding boundary (where NumPy's and Polars' logarithms could
    round differently) counts in both neighbouring buckets, so the kept rows are a superset
    of the programs' rows.
    """
    if min_slices <= 1 or prints.num_rows == 0:
        return None
    size = prints.column("size")
    q = np.asarray(pc.fill_null(size.cast(pa.float64()), 0.0).to_numpy(), dtype=np.float64)
    pos = q > 0
    width = max(float(size_tolerance), 1e-6)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.log(np.where(pos, q, 1.0)) / np.log1p(width)
    lo = np.floor(x)
    frac = x - lo
    unsure = np.abs(frac - 0.5) <= 1e-9
    b = (lo + (frac > 0.5)).astype(np.int64)
    b0 = lo.astype(np.int64)
    span = int(max(b.max(), b0.max() + 1)) - int(min(b.min(), b0.min())) + 1
    base = int(min(b.min(), b0.min()))
    tk = np.asarray(ticker, dtype=np.int64)
    k_main = tk * span + (b - base)
    k_lo, k_hi = tk * span + (b0 - base), tk * span + (b0 + 1 - base)
    # counts per (ticker, bucket): sure rows once, unsure rows in both buckets (an upper bound)
    sure = pos & ~unsure
    un = pos & unsure
    keys = np.concatenate([k_main[sure], k_lo[un], k_hi[un]])
    u, c = np.unique(keys, return_counts=True)
    big = u[c >= min_slices]
    if big.size == 0:
        return np.zeros(prints.num_rows, dtype=bool)
    keep = sure & np.isin(k_main, big)
    keep |= un & (np.isin(k_lo, big) | np.isin(k_hi, big))
    return keep


def _one_ticker_each(tables: Sequence[pa.Table]) -> list[str | None]:
    """Per table, its ``ticker`` when every row holds that one (non-null) ticker, else
    ``None`` (no rows, a null or two tickers). One encoding of every table's tickers: a
    table holds one ticker when its smallest and largest codes agree."""
    from chainlens.flow._keys import encoded

    cols = [t.column("ticker") for t in tables]
    sizes = np.asarray([len(c) for c in cols], dtype=np.int64)
    if not cols or any(c.null_count for c in cols) or len({c.type for c in cols}) != 1:
        return [
            c[0].as_py()
            if len(c) and not c.null_count and pc.count_distinct(c).as_py() == 1
            else None
            for c in cols
        ]  # a loop over underlyings: the per-table check
    full = np.flatnonzero(sizes > 0)
    out: list[str | None] = [None] * len(cols)
    if full.size == 0:
        return out
    codes, d = encoded(pa.chunked_array([k for c in cols for k in c.chunks], cols[0].type))
    starts = np.cumsum(np.r_[0, sizes[:-1]])[full]
    lo = np.minimum.reduceat(codes, starts)
    hi = np.maximum.reduceat(codes, starts)
    names = d.to_pylist()
    for j, i in enumerate(full.tolist()):  # a loop over underlyings: the ticker of each
        if lo[j] == hi[j]:
            out[i] = names[int(lo[j])]
    return out


def darkpool_many(
    prints: Sequence[pa.Table | None], config: object
) -> tuple[list[pa.Table | None], list[pa.Table | None]]:
    """:func:`chainlens.flow.darkpool_summary` and :func:`chainlens.flow.detect_twap` of each
    prints table (``None`` stays ``None``), each computed once over the concatenation.

    Both functions group by ``ticker`` and sort their output by it, so when every table holds
    one ticker and no two tables the same one, the rows of a ticker in the one call are the
    per-table call's rows (the sums of a group add the same rows; floats agree to rounding).
    Otherwise each table is summarised alone.
    """
    from chainlens.flow._darkpool import darkpool_summary, detect_twap

    cfg = config
    thr = cfg.darkpool_label_threshold  # type: ignore[attr-defined]
    twap_kw = {
        "min_slices": cfg.twap_min_slices,  # type: ignore[attr-defined]
        "max_interval_cv": cfg.twap_max_interval_cv,  # type: ignore[attr-defined]
        "size_tolerance": cfg.twap_size_tolerance,  # type: ignore[attr-defined]
    }
    idx = [i for i, p in enumerate(prints) if p is not None]
    ticks = _one_ticker_each([prints[i] for i in idx])
    dps: list[pa.Table | None] = [None] * len(prints)
    tws: list[pa.Table | None] = [None] * len(prints)
    if not idx:
        return dps, tws
    if None in ticks or len(set(ticks)) != len(ticks):
        for i in idx:  # the per-table path
            p = prints[i]
            assert p is not None
            dps[i] = darkpool_summary(p, label_threshold=thr)
            tws[i] = detect_twap(p, **twap_kw)
        return dps, tws
    # the columns both read, in one chunk (Polars is several times slower on the many small
    # chunks of a concatenation)
    cols = [c for c in _PRINT_COLUMNS if c in prints[idx[0]].column_names]  # type: ignore[union-attr]
    allp = pa.concat_tables([prints[i].select(cols) for i in idx]).combine_chunks()  # type: ignore[union-attr]
    dp_all = darkpool_summary(allp, label_threshold=thr)
    seg = segment_ids([prints[i].num_rows for i in idx])  # type: ignore[union-attr]
    keep = twap_candidates(
        allp, seg, min_slices=twap_kw["min_slices"], size_tolerance=twap_kw["size_tolerance"]
    )
    tw_all = detect_twap(allp if keep is None else allp.filter(pa.array(keep)), **twap_kw)
    dp_by, tw_by = _by_key(dp_all, "ticker"), _by_key(tw_all, "ticker")
    for i, u in zip(idx, ticks, strict=True):
        assert u is not None
        dps[i] = dp_by.get(u, dp_all.slice(0, 0))
        tws[i] = tw_by.get(u, tw_all.slice(0, 0))
    return dps, tws


def print_events_many(parts: Sequence[pa.Table]) -> list[pa.Table]:
    """:func:`chainlens.flow.print_events` of each table of ``parts`` (enriched trades of one
    underlying each), computed in one call over their concatenation.

    ``print_events`` groups rows by event (a sweep's ``burst_id``, else the row alone) in
    order of first appearance; the burst ids, numbered per part from 1, are made unique to
    their part during the call (each part's ids moved past the previous parts'), so no event
    joins two parts and the events of each part come out contiguous, in the per-part order.
    The events per part
    are counted from the events' ``n_trades`` (their running sum meets each part's last row).
    """
    from chainlens.flow._prints import print_events

    sizes = [p.num_rows for p in parts]
    t = pa.concat_tables(list(parts))
    if t.num_rows == 0:
        return [print_events(p) for p in parts]
    ev, counts = _print_events_chunk(t, sizes)
    return split_rows(ev, counts.tolist())


def _print_events_chunk(t: pa.Table, sizes: Sequence[int]) -> tuple[pa.Table, np.ndarray]:
    """The events of :func:`print_events_many` of the parts of ``t`` (``sizes`` rows each, at
    least one row in all) as one table (one chunk per column) and the events per part."""
    from chainlens.flow._prints import print_events

    seg = segment_ids(sizes)
    bcol = t.column("burst_id")
    if bcol.null_count:
        raise ValueError("null burst_id (per-part path)")
    burst = np.asarray(bcol.to_numpy(), dtype=np.int64)
    if burst.min() < 0:
        raise ValueError("negative burst_id (per-part path)")
    # each part's burst ids moved past the previous parts' (a dense key, unique to its part:
    # print_events then finds each burst's first row with a table instead of np.unique)
    sz = np.asarray(sizes, dtype=np.int64)
    full = sz > 0
    top = np.zeros(sz.size, dtype=np.int64)
    top[full] = np.maximum.reduceat(burst, (np.cumsum(sz) - sz)[full])
    base = np.cumsum(top + 1) - (top + 1)
    ev = print_events(_set(t, "burst_id", pa.array(base[seg] + burst)))
    # the events of a part are contiguous (no event joins two parts) and hold its rows: the
    # running sum of ``n_trades`` meets every part's end, and the events up to there are its
    n_tr = np.asarray(ev.column("n_trades").to_numpy(), dtype=np.int64)
    ends = np.cumsum(n_tr)  # strictly increasing: every event holds a row
    bounds = np.cumsum(np.asarray(sizes, dtype=np.int64))
    upto = np.searchsorted(ends, bounds, side="right")  # events ending within each prefix
    full = np.asarray(sizes, dtype=np.int64) > 0
    if (
        int(ends[-1] if ends.size else 0) != int(bounds[-1])
        or not bool((ends[np.maximum(upto[full] - 1, 0)] == bounds[full]).all())
        or bool((upto[full] == 0).any())
    ):
        raise ValueError("event count mismatch (per-part path)")
    counts = np.diff(np.r_[0, upto])
    return ev, counts


#: The chain columns :func:`chainlens.flow.notable_prints` reads (those present).
_NOTABLE_CHAIN = ("symbol", "open_interest", "gamma", "spot", "volume")


def notable_many(
    events: Sequence[pa.Table],
    chains: Sequence[pa.Table],
    stats: Sequence[pa.Table | None],
    min_premium_usd: Sequence[float],
    *,
    top_n: int,
    chain_symbols_unique: bool | None = None,
    events_table: pa.Table | None = None,
) -> list[pa.Table]:
    """:func:`chainlens.flow.notable_prints` of each underlying (``live_after_next_session``),
    its events, chain, contract stats and premium floor, in one call over the chunk.

    Every fact of a notable print is row-wise once the print is joined to its contract (the
    chain and the contract stats, keyed by ``symbol``), and the score too
    (:func:`chainlens.flow.flow_score`). So the events are concatenated with their segment,
    each segment's premium floor applied first (``premium_usd >= floor``), and one call joins
    and scores them all; each segment's rows are then ranked as the per-segment call ranks
    them (score, then premium, descending; ties in row order), cut to ``top_n`` and numbered
    from 1. Valid when no ``symbol`` appears in two segments and every segment has contract
    stats (else the joined columns would not have the per-segment types): otherwise each
    segment is computed alone. ``chain_symbols_unique``: ``True`` when the caller knows that
    every chain symbol is non-null and in one chain only (:func:`tag_moneyness_chunk`), which
    is then not checked again. ``events_table``: the concatenation of ``events`` when the
    caller has it in one chunk per column (the chosen events are then taken from it without
    concatenating every chunk first).
    """
    from chainlens.flow._prints import notable_prints

    n = len(events)
    solo = [
        notable_prints(
            events[i], chains[i], contract_stats=stats[i], top_n=top_n,
            min_premium_usd=min_premium_usd[i], live_after_next_session=True,
        )
        for i in range(n)
    ] if n <= 1 else None  # fmt: skip
    if solo is not None:
        return solo
    ok = all(s is not None and s.num_rows for s in stats)
    # only the chain columns notable_prints reads (the others cost a copy in the filter)
    ccols = [c for c in _NOTABLE_CHAIN if c in chains[0].column_names]
    ch = pa.concat_tables([c.select(ccols) for c in chains]) if ok else None
    if ok and ch is not None and not chain_symbols_unique:
        sym_seg = (
            pa.table({"s": ch.column("symbol"), "g": segment_ids([c.num_rows for c in chains])})
            .group_by(["s", "g"])
            .aggregate([])
        )  # (symbol, segment) pairs
        ok = sym_seg.num_rows == pc.count_distinct(ch.column("symbol")).as_py()
    if not ok:
        return [
            notable_prints(
                events[i], chains[i], contract_stats=stats[i], top_n=top_n,
                min_premium_usd=min_premium_usd[i], live_after_next_session=True,
            )
            for i in range(n)  # a loop over underlyings: the per-segment path
        ]  # fmt: skip
    sizes = [e.num_rows for e in events]
    ev = pa.concat_tables(list(events)) if events_table is None else events_table
    if ev.num_rows != sum(sizes):
        raise ValueError("events_table is not the events (per-segment path)")
    seg = segment_ids(sizes)
    prem = ev.column("premium_usd")
    if prem.null_count:
        raise ValueError("null premium (per-segment path)")
    floor = np.asarray(min_premium_usd, dtype=np.float64)[seg]
    p = np.asarray(prem.cast(pa.float64()).to_numpy(), dtype=np.float64)
    keep = (p >= floor) | np.isnan(p)  # Polars orders NaN above every number
    # few rows: a take (cheaper than a filter over the many chunks), one batch for Polars
    ev = ev.take(pa.array(np.flatnonzero(keep), pa.int64())).combine_chunks()
    ev = ev.append_column("_seg", pa.array(seg[keep]))
    st = pa.concat_tables([s for s in stats if s is not None])
    # only the chain and stats rows of the kept prints' symbols: a symbol's last row (the
    # chain's ``group_by(symbol).last()``, the stats' ``unique(symbol, keep="last")``) is
    # the same among its own rows, and the other rows join no print (stats left without a
    # row would not be joined at all: then they stay whole)
    syms = pc.unique(ev.column("symbol"))
    assert ch is not None
    ch = ch.filter(pc.is_in(ch.column("symbol"), value_set=syms)).combine_chunks()
    st_kept = st.filter(pc.is_in(st.column("symbol"), value_set=syms))
    st = (st_kept if st_kept.num_rows else st).combine_chunks()
    allr = notable_prints(
        ev, ch, contract_stats=st, top_n=ev.num_rows, min_premium_usd=-math.inf,
        live_after_next_session=True,
    )  # fmt: skip
    # rows in score order; per segment, the first top_n of that order
    g = np.asarray(allr.column("_seg").to_numpy(), dtype=np.int64)
    order = np.argsort(g, kind="stable")
    gs = g[order]
    first = np.searchsorted(gs, gs, side="left")
    pos = np.arange(gs.size, dtype=np.int64) - first
    take = order[pos < max(int(top_n), 0)]
    rank = pos[pos < max(int(top_n), 0)] + 1
    got = allr.take(pa.array(take, pa.int64()))
    got = got.set_column(
        got.column_names.index("rank"), got.schema.field("rank"), pa.array(rank, pa.int64())
    ).drop_columns(["_seg"])
    counts = np.bincount(g[take], minlength=n)
    return split_rows(got, counts.tolist())
