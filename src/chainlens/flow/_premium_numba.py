"""Numba kernels of :func:`chainlens.flow._premium.moneyness_columns` (row-wise, one pass
each instead of a dozen NumPy temporaries), bit-identical to the NumPy expressions they
replace (the same operations in the same order per row; ``numpy.nan_to_num``'s mapping of
NaN and the infinities reproduced); ``tests/test_w11a_prints_kernels.py`` checks them.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["moneyness_rows", "vendor_delta"]

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
