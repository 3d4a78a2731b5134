"""One chunk of underlyings in one simulated session: the state the market driver
(:mod:`chainlens.sim._market`) builds and the scenario hooks (:mod:`chainlens.sim._scenarios`)
read and change. Its own module so that neither of the two imports the other for it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from chainlens.sim._paths import GRID_POINTS
from chainlens.sim._universe import Universe

__all__ = ["Ctx"]


@dataclass(slots=True)
class Ctx:
    """One chunk in one session: the contracts with their state, prices and quotes."""

    s: int
    day: dt.date
    sday: int
    uids: np.ndarray
    uni: Universe
    keys: np.ndarray
    pos: np.ndarray  # contract -> underlying position within the chunk
    exp_day: np.ndarray
    am: np.ndarray
    strike: np.ndarray
    is_call: np.ndarray
    settle_ns: np.ndarray
    t_snap: np.ndarray
    spot: np.ndarray  # per underlying, close
    fwd: np.ndarray
    iv: np.ndarray
    theo: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    oi_start: np.ndarray
    reserved: np.ndarray
    grid: np.ndarray  # (n_u, GRID_POINTS) intraday spot
    open_ns: int
    close_ns: int
    extra: dict = field(default_factory=dict)

    def find(self, uid: int, exp_day: int, am: int, strike: float, put: int) -> int:
        """Index of a contract, or -1."""
        from chainlens.sim._listing import encode_keys

        k = encode_keys(
            np.array([uid]),
            np.array([exp_day]),
            np.array([am]),
            np.array([round(strike * 1000)]),
            np.array([put]),
        )[0]
        i = int(np.searchsorted(self.keys, k))
        return i if i < len(self.keys) and self.keys[i] == k else -1

    def spot_at(self, pos: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Spot of underlying positions ``pos`` at instants ``ts`` (grid interpolation)."""
        f = np.clip((ts - self.open_ns) / (self.close_ns - self.open_ns), 0.0, 1.0) * (
            GRID_POINTS - 1
        )
        i0 = np.minimum(f.astype(np.int64), GRID_POINTS - 2)
        w = f - i0
        return self.grid[pos, i0] * (1.0 - w) + self.grid[pos, i0 + 1] * w
