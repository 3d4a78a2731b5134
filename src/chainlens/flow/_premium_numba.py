"""Numba kernels of :func:`chainlens.flow._premium.moneyness_columns` (row-wise, one pass
each instead of a dozen NumPy temporaries), bit-identical to the NumPy expressions they
replace (the same operations in the same order per row; ``numpy.nan_to_num``'s mapping of
NaN and the infinities reproduced); ``tests/test_w11a_prints_kernels.py`` checks them.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["ascii_codes_in", "moneyness_rows", "vendor_delta"]

_MAX = np.finfo(np.float64).max


@nb.njit(cache=True, nogil=True)
def vendor_delta(vd, iv, spot, k):  # pragma: no cover - compiled
    """The vendor's absolute delta where usable (finite, and not a zero without a positive
    IV), else NaN; and the rows that need a Black-Scholes delta instead (no usable vendor
    delta, a positive IV, spot and strike)."""
    n = vd.shape[0]
    d = np.empty(n, dtype=np.float64)
    need = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        v = vd[i]
        if np.isfinite(v) and not (v == 0.0 and not (iv[i] > 0)):
            d[i] = v
        else:
            d[i] = np.nan
            need[i] = iv[i] > 0 and spot[i] > 0 and k[i] > 0
    return d, need


@nb.njit(cache=True, nogil=True, error_model="numpy")
def moneyness_rows(d, spot, k, is_call, size, mult, deep_delta, deep_pct):  # pragma: no cover
    """Per row: ``itm_pct`` (``(S - K) / S * 100`` for a call, ``(K - S) / S * 100`` for a
    put), ``deep_itm`` (``nan_to_num(d, nan=0) >= deep_delta`` or ``nan_to_num(itm, nan=-1)
    > deep_pct``) and ``delta_notional_usd`` (``d * S * size * mult``)."""
    n = d.shape[0]
    itm = np.empty(n, dtype=np.float64)
    deep = np.empty(n, dtype=np.bool_)
    dn = np.empty(n, dtype=np.float64)
    for i in range(n):
        s = spot[i]
        kk = k[i]
        x = ((s - kk) / s if is_call[i] else (kk - s) / s) * 100.0
        itm[i] = x
        dd = d[i]
        if np.isnan(dd):
            dz = 0.0
        elif dd == np.inf:
            dz = _MAX
        elif dd == -np.inf:
            dz = -_MAX
        else:
            dz = dd
        if np.isnan(x):
            xz = -1.0
        elif x == np.inf:
            xz = _MAX
        elif x == -np.inf:
            xz = -_MAX
        else:
            xz = x
        deep[i] = dz >= deep_delta or xz > deep_pct
        dn[i] = dd * s * size[i] * mult[i]
    return itm, deep, dn


@nb.njit(cache=True, nogil=True)
def ascii_codes_in(offsets, data, valid, tdata, toff, out, pos):  # pragma: no cover
    """``out[pos + i]``: row ``i`` of a string array (``offsets``, ``data`` bytes; ``valid``:
    its validity, empty when it has no null) is non-null and, with the spaces at either end
    trimmed and ``a-z`` upper-cased, one of the targets (``tdata`` bytes cut at ``toff``).
    Returns ``False`` (leaving ``out`` partly written) at the first byte outside the
    printable ASCII range ``0x20..0x7E``: there Unicode trimming and upper-casing (the
    caller's Arrow path) can differ from the ASCII rules used here."""
    n = offsets.shape[0] - 1
    nt = toff.shape[0] - 1
    has_valid = valid.shape[0] > 0
    for i in range(n):
        if has_valid and not valid[i]:
            out[pos + i] = False
            continue
        s = offsets[i]
        e = offsets[i + 1]
        for j in range(s, e):
            c = data[j]
            if c < 0x20 or c > 0x7E:
                return False
        while s < e and data[s] == 0x20:
            s += 1
        while e > s and data[e - 1] == 0x20:
            e -= 1
        m = e - s
        hit = False
        for q in range(nt):
            a = toff[q]
            if toff[q + 1] - a != m:
                continue
            same = True
            for x in range(m):
                c = data[s + x]
                if c >= 97 and c <= 122:
                    c -= 32
                if c != tdata[a + x]:
                    same = False
                    break
            if same:
                hit = True
                break
        out[pos + i] = hit
    return True
