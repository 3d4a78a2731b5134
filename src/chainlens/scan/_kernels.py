"""Compiled row passes of the run block's unusual-scanner flows (Numba, ``cache=True``) with
NumPy twins of the same signature and bit-identical results (tested in
``tests/test_scan_block_rows.py``).

The flows are sums per (window, session) cell in row order, which is what ``np.bincount``
with weights does; the compiled pass does the same additions in the same order in one loop
over the rows, reading each column's values in place (no float64 copies, no temporaries).
:func:`use_compiled` asks the one engine policy (:func:`chainlens._engine.use_numba`, with
:data:`COMPILED_MIN_ROWS`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from chainlens import _engine

__all__ = [
    "COMPILED_MIN_ROWS",
    "chain_sums",
    "column",
    "contract_sums",
    "rows_are",
    "trade_sums",
    "use_compiled",
]

#: Auto mode: below this many chain rows the NumPy twins run (loading the compiled passes
#: costs more than it saves on a small block).
COMPILED_MIN_ROWS = 100_000

#: Fixed-width Arrow types read in place.
_NUMERIC = {
    pa.int8(): "int8", pa.int16(): "int16", pa.int32(): "int32", pa.int64(): "int64",
    pa.uint8(): "uint8", pa.uint16(): "uint16", pa.uint32(): "uint32",
    pa.float32(): "float32", pa.float64(): "float64",
}  # fmt: skip

_NONE = np.zeros(0, dtype=np.uint8)


def use_compiled(n: int) -> bool:
    """Whether the compiled passes run for a block of ``n`` chain rows."""
    return _engine.use_numba(n, COMPILED_MIN_ROWS)


def column(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """A numeric column's values in place (its own type, a view of the Arrow buffer; a null
    slot holds any value) and its validity (uint8 0/1; empty: no null); None for another type or
    an int64 beyond 2**53 in magnitude (which Arrow's checked float64 cast refuses: the NumPy
    path raises as it does)."""
    from chainlens.oi._encode import one_chunk

    arr = one_chunk(col)
    name = _NUMERIC.get(arr.type)
    if name is None:
        return None
    n, off = len(arr), arr.offset
    if n == 0:
        return np.zeros(0, np.dtype(name)), _NONE
    raw = np.frombuffer(arr.buffers()[1], np.dtype(name))[off : off + n]
    valid = _NONE
    if arr.null_count:  # one byte per row, 0 or 1 (a view of the unpacked bits)
        bits = np.frombuffer(arr.buffers()[0], np.uint8)
        valid = np.unpackbits(bits, count=off + n, bitorder="little")[off:]
    if name == "int64":
        big = 2**53
        if int(raw.max()) > big or int(raw.min()) < -big:  # then check the valid rows only
            out = (raw > big) | (raw < -big)
            if valid.size:
                out &= valid.astype(bool)
            if bool(out.any()):
                return None
    return raw, valid


def chain_sums(
    key: np.ndarray, size: int, cols: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cell of ``key`` (``size`` cells): the rows, whether a volume is given, the volume
    sum and the premium sum (see :func:`chainlens.scan._store_scans._flows`), of the chain
    columns ``cols`` = volume, bid, ask, last, multiplier (each :func:`column`)."""
    (v, vv), (b, bv), (a, av), (la, lv), (m, mv) = cols
    out: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] = _chain_sums_nb(
        key, size, v, vv, b, bv, a, av, la, lv, m, mv
    )
    return out


def trade_sums(
    t_seg: np.ndarray,
    t_day: np.ndarray,
    lo: int,
    span: int,
    rows: np.ndarray,
    cols: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Per cell (window ``t_seg`` x session ``t_day - lo``, ``len(rows)`` cells): the trades'
    premium sum and whether a trade fell in it, counting only cells with a chain row
    (``rows`` > 0), of the trade columns ``cols`` = price, size, multiplier."""
    (p, pv), (q, qv), (m, mv) = cols
    out: tuple[np.ndarray, np.ndarray] = _trade_sums_nb(
        t_seg, t_day, lo, span, rows, p, pv, q, qv, m, mv
    )
    return out


def contract_sums(
    code: np.ndarray,
    n_sym: int,
    legs: np.ndarray,
    side: np.ndarray,
    cols: list[tuple[np.ndarray, np.ndarray]],
    delta_k: np.ndarray,
    dvalid_k: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per contract code (``n_sym``): the net-delta scanner's ``net_contracts``,
    ``gross_contracts`` and ``delta_shares`` sums of the trades (``code``, multi-leg ``legs``,
    ``side`` codes with nulls as 0, ``cols`` = size, multiplier as :func:`column`) and the
    contracts' deltas ``delta_k`` (valid where ``dvalid_k``): the sums of
    :func:`chainlens.scan._store_scans._contract_sums`, in the same order."""
    from chainlens.flow._side import BUY, SELL

    (q, qv), (m, mv) = cols
    out: tuple[np.ndarray, np.ndarray, np.ndarray] = _contract_sums_nb(
        code, n_sym, legs, side, BUY, SELL, q, qv, m, mv, delta_k, dvalid_k
    )
    return out


def rows_are(
    off: np.ndarray, data: np.ndarray, name_off: np.ndarray, name_data: np.ndarray, seg: np.ndarray
) -> bool:
    """Whether string row ``r`` (Arrow ``off``sets into ``data``) holds the bytes of name
    ``seg[r]`` (``name_off`` into ``name_data``), for every row."""
    return bool(_rows_are_nb(off, data, name_off, name_data, seg))


def per_code(
    code: np.ndarray, n: int, seg: np.ndarray, days: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Per code (``n``): the window ``seg`` and the day ``days`` of its rows, and whether
    every row of a code has the same window and day (else the values are partial)."""
    out: tuple[np.ndarray, np.ndarray, bool] = _per_code_nb(code, n, seg, days)
    return out


try:  # pragma: no cover - exercised through use_compiled()
    from numba import njit
except ImportError:  # pragma: no cover

    def _chain_sums_nb(*args: Any) -> Any:
        raise RuntimeError("numba is not installed")

    def _trade_sums_nb(*args: Any) -> Any:
        raise RuntimeError("numba is not installed")

    def _contract_sums_nb(*args: Any) -> Any:
        raise RuntimeError("numba is not installed")

    def _rows_are_nb(*args: Any) -> Any:
        raise RuntimeError("numba is not installed")

    def _per_code_nb(*args: Any) -> Any:
        raise RuntimeError("numba is not installed")

else:

    @njit(cache=True, nogil=True)
    def _chain_sums_nb(
        key, size, v, vv, b, bv, a, av, la, lv, m, mv
    ):  # pragma: no cover - compiled
        cnt = np.zeros(size, np.int64)
        any_v = np.zeros(size, np.bool_)
        vol = np.zeros(size, np.float64)
        prem = np.zeros(size, np.float64)
        for i in range(len(key)):
            k = key[i]
            v_ok = vv.size == 0 or vv[i] != 0
            b_ok = bv.size == 0 or bv[i] != 0
            a_ok = av.size == 0 or av[i] != 0
            m_ok = mv.size == 0 or mv[i] != 0
            x = np.float64(v[i]) if v_ok else 0.0
            bid = np.float64(b[i]) if b_ok else 0.0
            ask = np.float64(a[i]) if a_ok else 0.0
            last = np.float64(la[i]) if (lv.size == 0 or lv[i] != 0) else 0.0
            mult = np.float64(m[i]) if m_ok else 0.0
            if b_ok and a_ok and bid > 0 and ask >= bid:
                mid = (bid + ask) / 2
            else:
                mid = last
            cnt[k] += 1
            if v_ok:
                any_v[k] = True
            vol[k] += x
            prem[k] += x * mid * mult if (v_ok and m_ok) else 0.0
        return cnt, any_v, vol, prem

    @njit(cache=True, nogil=True)
    def _trade_sums_nb(
        t_seg, t_day, lo, span, rows, p, pv, q, qv, m, mv
    ):  # pragma: no cover - compiled
        size = len(rows)
        tp = np.zeros(size, np.float64)
        traded = np.zeros(size, np.bool_)
        for i in range(len(t_seg)):
            d = np.int64(t_day[i]) - lo
            if d < 0 or d >= span:
                continue
            k = t_seg[i] * span + d
            if rows[k] == 0:
                continue
            p_ok = pv.size == 0 or pv[i] != 0
            q_ok = qv.size == 0 or qv[i] != 0
            m_ok = mv.size == 0 or mv[i] != 0
            if p_ok and q_ok and m_ok:
                tp[k] += np.float64(p[i]) * np.float64(q[i]) * np.float64(m[i])
            else:
                tp[k] += 0.0
            traded[k] = True
        return tp, traded

    @njit(cache=True, nogil=True)
    def _contract_sums_nb(
        code, n_sym, legs, side, buy, sell, q, qv, m, mv, delta_k, dvalid_k
    ):  # pragma: no cover - compiled
        net = np.zeros(n_sym, np.float64)
        gross = np.zeros(n_sym, np.float64)
        dsum = np.zeros(n_sym, np.float64)
        for i in range(len(code)):
            c = code[i]
            leg = legs[i]
            q_ok = qv.size == 0 or qv[i] != 0
            m_ok = mv.size == 0 or mv[i] != 0
            size = 0.0 if (leg or not q_ok) else np.float64(q[i])
            sd = side[i]
            s = 1.0 if sd == buy else (-1.0 if sd == sell else 0.0)
            net[c] += s * size
            gross[c] += size
            if q_ok and m_ok and dvalid_k[c] and not leg:
                mult = np.float64(m[i])
                dsum[c] += s * size * delta_k[c] * mult
            else:
                dsum[c] += 0.0
        return net, gross, dsum

    @njit(cache=True, nogil=True)
    def _rows_are_nb(off, data, name_off, name_data, seg):  # pragma: no cover - compiled
        for r in range(len(seg)):
            k = seg[r]
            s = np.int64(off[r])
            e = np.int64(off[r + 1])
            a = name_off[k]
            if e - s != name_off[k + 1] - a:
                return False
            for j in range(e - s):
                if data[s + j] != name_data[a + j]:
                    return False
        return True

    @njit(cache=True, nogil=True)
    def _per_code_nb(code, n, seg, days):  # pragma: no cover - compiled
        seg_k = np.full(n, -1, np.int64)
        day_k = np.zeros(n, np.int64)
        for i in range(len(code)):
            c = code[i]
            if seg_k[c] < 0:
                seg_k[c] = seg[i]
                day_k[c] = days[i]
            elif seg_k[c] != seg[i] or day_k[c] != days[i]:
                return seg_k, day_k, False
        return seg_k, day_k, True
