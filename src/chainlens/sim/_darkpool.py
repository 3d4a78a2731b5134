"""Off-exchange (dark-pool / TRF) equity prints with the NBBO.

Background prints: U-shaped times; at the ask, at the bid or inside the spread (about 28%,
half of it at the midpoint) with a per-name daily buy/sell tilt, so that some names show
accumulation or distribution on an ordinary day; sizes of round lots with a heavy tail,
scaled so a name's daily dark notional is in proportion to its activity (tens of USD bn a
day over the most active names, the scale of FINRA TRF volume). Programs are series of
TWAP-like slices (regular intervals, near-equal sizes) printing at or near the ask
(accumulation, ``side = buy``) or the bid (distribution, ``side = sell``); their id is in the
truth file. NBBO: half-spread ``max(0.5 cent, 1-4 bp of the spot)``, on the cent grid.

Venue codes: ``TRF-CART`` (FINRA/Nasdaq TRF Carteret), ``TRF-CHI`` (FINRA/Nasdaq TRF Chicago),
``TRF-NYSE`` (FINRA/NYSE TRF), ``ADF`` (FINRA alternative display facility).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

__all__ = ["VENUES", "Prints", "background_prints", "program_prints"]

VENUES = np.array(["TRF-CART", "TRF-CHI", "TRF-NYSE", "ADF"], dtype=object)


@dataclass(slots=True)
class Prints:
    """Dark-pool prints of a chunk: ``grp`` (underlying position), ``ts``, ``size``, ``x``
    (place in the spread), ``venue``, truth ``side`` (+1 buy, -1 sell, 0 none), ``program``."""

    grp: np.ndarray
    ts: np.ndarray
    size: np.ndarray
    x: np.ndarray
    venue: np.ndarray
    side: np.ndarray
    program: np.ndarray

    @staticmethod
    def concat(parts: list[Prints]) -> Prints:
        return Prints(*[np.concatenate([getattr(p, f) for p in parts]) for f in Prints.__slots__])


def background_prints(
    u: np.ndarray,
    n_per_group: np.ndarray,
    t_open: int,
    t_close: int,
    lot_scale: np.ndarray,
    bias: np.ndarray | None = None,
) -> Prints:
    """Background prints from uniforms ``u`` (rows = prints, 4 columns).

    ``bias`` (per group, default 0) is the day's buy-minus-sell tilt of the name's
    institutional flow: a print is at the ask with probability ``0.36 + bias/2``, at the bid
    with ``0.36 - bias/2``, else inside the spread (half of those exactly at the mid), so the
    at-bid/at-ask imbalance of a name is about ``0.72 bias`` and its unplaced share ~28%.
    """
    grp = np.repeat(np.arange(len(n_per_group)), n_per_group)
    f = 0.5 - 0.5 * np.cos(np.pi * u[:, 0])
    ts = t_open + (f * (t_close - t_open)).astype(np.int64)
    r = u[:, 1]
    b = np.zeros(len(grp)) if bias is None else np.clip(bias[grp], -0.6, 0.6)
    p_ask = 0.36 + 0.5 * b
    p_bid = 0.36 - 0.5 * b
    f2 = np.remainder(u[:, 2] * 7.0, 1.0)
    inside = np.where(f2 < 0.5, 0.5, 0.15 + 0.7 * np.remainder(u[:, 2] * 13.0, 1.0))
    x = np.where(r < p_ask, 1.0, np.where(r < p_ask + p_bid, 0.0, inside))
    z = ndtri(np.clip(u[:, 3], 1e-9, 1 - 1e-9))
    size = 100 * np.maximum(1, np.floor(np.exp(1.5 + 0.9 * z) * lot_scale[grp])).astype(np.int64)
    venue = np.floor(u[:, 2] * 4).astype(np.int64) % 4
    return Prints(
        grp, ts, size, x, venue, np.zeros(len(grp), np.int8), np.full(len(grp), -1, np.int64)
    )


def program_prints(
    grp: int,
    side: int,
    total_shares: int,
    n_slices: int,
    t_open: int,
    t_close: int,
    program: int,
    u: np.ndarray,
) -> Prints:
    """A TWAP-like program: ``n_slices`` near-equal slices at regular intervals through the day,
    at the ask (buy) or the bid (sell), or one tick inside. ``u``: uniforms ``(n_slices, 2)``."""
    k = np.arange(n_slices)
    ts = t_open + ((k + 0.5 + 0.3 * (u[:, 0] - 0.5)) / n_slices * (t_close - t_open)).astype(
        np.int64
    )
    base = total_shares / n_slices
    size = 100 * np.maximum(1, np.round(base * (0.9 + 0.2 * u[:, 1]) / 100)).astype(np.int64)
    x = np.where(u[:, 1] < 0.8, 1.0, 0.85) if side > 0 else np.where(u[:, 1] < 0.8, 0.0, 0.15)
    return Prints(
        np.full(n_slices, grp, np.int64),
        ts,
        size,
        np.asarray(x, dtype=np.float64),
        (k % 4).astype(np.int64),
        np.full(n_slices, side, np.int8),
        np.full(n_slices, program, np.int64),
    )


def nbbo(spot: np.ndarray, u_bp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equity NBBO on the cent grid around ``spot``; half-spread ``max(0.005, (1+3u) bp)``."""
    half = np.maximum(0.005, spot * (1.0 + 3.0 * u_bp) * 1e-4)
    bid = np.floor((spot - half) * 100.0) / 100.0
    ask = np.ceil((spot + half) * 100.0) / 100.0
    ask = np.maximum(ask, bid + 0.01)
    return np.round(bid, 2), np.round(ask, 2)
