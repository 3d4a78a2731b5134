"""Numba fast path of :func:`chainlens.flow.quote_rule`: one fused pass, parallel over trades.

Same rule, thresholds and NaN handling as the NumPy implementation in
:mod:`chainlens.flow._side` (which documents them); the tests check both on the same inputs.
The NumPy version makes about fifteen full-length temporaries; this one reads three arrays and
writes one ``int8`` array.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["aggressiveness_nb", "quote_rule_nb"]


@nb.njit(parallel=True, cache=True, nogil=True)
def _quote_rule_kernel(p, b, a, buy_t, sell_t, out):  # type: ignore[no-untyped-def]
    n = p.shape[0]
    for i in nb.prange(n):
        bi = b[i]
        ai = a[i]
        pi = p[i]
        if not (math.isfinite(bi) and math.isfinite(ai) and ai > 0.0 and bi >= 0.0 and bi <= ai):
            out[i] = 2
            continue
        spread = ai - bi
        x = (pi - bi) / spread if spread > 0.0 else 0.5
        at_ask = pi >= ai
        at_bid = pi <= bi
        buy = (at_ask and not at_bid) or ((not at_bid) and x >= buy_t - 1e-9)
        sell = (at_bid and not at_ask) or ((not at_ask) and x <= sell_t + 1e-9)
        if buy and not sell:
            out[i] = 1
        elif sell and not buy:
            out[i] = -1
        else:
            out[i] = 0


def quote_rule_nb(
    p: np.ndarray, b: np.ndarray, a: np.ndarray, buy_t: float, sell_t: float
) -> np.ndarray:
    """Side codes (``int8``) of the quote rule; ``float64`` contiguous inputs of equal length."""
    out = np.empty(p.shape[0], dtype=np.int8)
    _quote_rule_kernel(p, b, a, float(buy_t), float(sell_t), out)
    return out


@nb.njit(cache=True, nogil=True, error_model="numpy")
def aggressiveness_nb(p, b, a, code, unknown):  # type: ignore[no-untyped-def]  # pragma: no cover
    """``aggressiveness`` of :func:`chainlens.flow.enrich_trades` per trade, one pass:
    ``min(1, |2x - 1|)`` with ``x = (p - b) / (a - b)`` (NaN when ``a - b <= 0``), ``0``
    where that is not finite or the side is ``unknown``; the NumPy expression's operations in
    its order (``numpy.minimum`` propagates a NaN), so bit-identical."""
    n = p.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        s = a[i] - b[i]
        x = (p[i] - b[i]) / (s if s > 0 else np.nan)
        v = abs(2.0 * x - 1.0)
        m = v if (v != v or v < 1.0) else 1.0
        out[i] = m if (np.isfinite(m) and code[i] != unknown) else 0.0
    return out
