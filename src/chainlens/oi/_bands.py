"""Seed 002 interpretation bands as data: Vol/OI and put/call ratio.

Each band is ``(lower bound inclusive, key, interpretation, signal quality)``; a value falls in
the last band whose lower bound it reaches. Looked up with :func:`band_of` (vectorized).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens.oi import _kernels

__all__ = ["PCR_BANDS", "VOL_OI_BANDS", "band_of"]

#: Seed 002 "The Vol/OI ratio: new positioning vs noise".
VOL_OI_BANDS: tuple[tuple[float, str, str, str], ...] = (
    (0.0, "below_0.5x", "Mostly existing position rotation or closing", "very low"),
    (0.5, "0.5x_1x", "Mix of closing and new activity", "low"),
    (1.0, "1x_2x", "Ambiguous, possible new positioning", "moderate"),
    (2.0, "2x_5x", "Primarily new positioning", "good"),
    (5.0, "5x_10x", "Strongly new, high conviction", "elevated"),
    (10.0, "above_10x", "Extreme new positioning relative to existing", "highest"),
)

#: Seed 002 "Put/call OI ratio as a market-structure signal" (individual stock bands).
PCR_BANDS: tuple[tuple[float, str, str, str], ...] = (
    (0.0, "below_0.3", "Extreme call dominance; minimal hedging", "contrarian exhaustion watch"),
    (0.3, "0.3_0.7", "Moderate call dominance; normal bullish positioning", "noise range"),
    (0.7, "0.7_1.2", "Balanced; mix of bullish speculation and hedging", "not useful"),
    (1.2, "1.2_2.0", "Put-heavy; meaningful hedging or bearish positioning", "possible support"),
    (2.0, "above_2.0", "Extreme put dominance; maximum bearish positioning", "strong contrarian"),
)


def band_of(
    values: pa.Array | pa.ChunkedArray | np.ndarray,
    bands: tuple[tuple[float, str, str, str], ...],
    *,
    field: int = 1,
) -> pa.Array:
    """The band (``field`` 1 = key, 2 = interpretation, 3 = quality) of each value; null for
    null/NaN/negative values.

    Examples
    --------
    >>> band_of(np.array([0.2, 2.0, 12.0, np.nan]), VOL_OI_BANDS).to_pylist()
    ['below_0.5x', '2x_5x', 'above_10x', None]
    """
    if isinstance(values, np.ndarray):
        x = values.astype(np.float64)
    else:
        arr = values if isinstance(values, pa.ChunkedArray) else pa.array(values)
        x = np.asarray(pc.fill_null(arr.cast(pa.float64()), np.nan).to_numpy(), dtype=np.float64)
    lows = np.array([b[0] for b in bands], np.float64)
    i, miss = _kernels.band_index(x, lows)
    return band_strings_from_index(i, miss, bands, field=field)


def band_strings_from_index(
    i: np.ndarray, miss: np.ndarray, bands: tuple[tuple[float, str, str, str], ...], *, field: int
) -> pa.Array:
    """Arrow strings ``bands[i][field]`` (null where ``miss``), written straight into the
    Arrow buffers (no Python object per value)."""
    names = [str(b[field]).encode() for b in bands]
    lens = np.array([len(b) for b in names], np.int64)
    if len(i) * int(lens.max()) >= 2**31 - 1:  # beyond 32-bit string offsets: the Arrow cast
        idx = pa.array(np.where(miss, 0, i).astype(np.int8), mask=miss)
        return pa.DictionaryArray.from_arrays(idx, pa.array([b[field] for b in bands])).cast(
            pa.string()
        )
    pad = np.zeros((len(names), int(lens.max())), np.uint8)
    for k, b in enumerate(names):  # a loop over the bands
        pad[k, : len(b)] = np.frombuffer(b, np.uint8)
    offsets, data = _kernels.band_strings(i, miss, pad, lens)
    n_null = int(miss.sum())
    validity = pa.py_buffer(np.packbits(~miss, bitorder="little")) if n_null else None
    return pa.StringArray.from_buffers(
        len(i),
        pa.py_buffer(offsets.astype(np.int32, copy=False)),
        pa.py_buffer(data),
        validity,
        n_null,
    )
