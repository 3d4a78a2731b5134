"""Underlying price paths: daily closes through a market factor, and intraday paths.

Daily log-returns (per session ``d``, underlying ``i``)::

    r_{i,d} = beta_i * m_d + s_i * z_{i,d} + J_{i,d}

with ``m_d`` the market factor: a stochastic-volatility process whose daily vol is
``0.85 x`` the SPX implied vol at the previous close (the variance risk premium), plus rare
negative jumps; ``s_i`` the idiosyncratic daily vol implied by the name's IV level net of its
market part (also scaled by 0.85 and by the vol regime); ``J`` earnings gaps on report days.
SPY tracks SPX, NDX tracks QQQ and RUT tracks IWM (basis noise of 2 bp). VIX is a
mean-reverting log process, towards 14 in the calm regime and 24 in the stressed one
(Markov-switching), with shocks correlated -0.85 with the market's and a jump up on crash
days; every name's implied vol scales with ``(VIX/14)^0.8``.

Intraday: a Brownian bridge in log-price on a 5-minute grid from the open (previous close
times an overnight gap) to the close.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from chainlens.sim._rng import keyed, per_underlying
from chainlens.sim._universe import Universe

__all__ = ["DailyPaths", "GRID_POINTS", "daily_paths", "intraday_grid"]

#: 5-minute grid from 09:30 to 16:00 ET, both ends included.
GRID_POINTS = 79
_SQRT252 = np.sqrt(252.0)
#: Realized over implied volatility (variance risk premium): daily vols are this fraction of
#: the implied level.
_VRP = 0.72


@dataclass(slots=True)
class DailyPaths:
    """Closes ``(U, D)``, previous close ``(U, D)``, overnight gap ``(U, D)`` (log), regime."""

    close: np.ndarray
    prev_close: np.ndarray
    gap: np.ndarray
    market: np.ndarray  # (D,) market factor log-return
    stressed: np.ndarray  # (D,) bool
    vix: np.ndarray  # (D,) VIX close, the IV regime level
    iv_scale: np.ndarray  # (D,) multiplier of every name's IV level

    def set_return(self, u: int, d: int, ret: float) -> None:
        """Force underlying ``u``'s session-``d`` log-return to ``ret`` (later closes shift)."""
        old = np.log(self.close[u, d] / self.prev_close[u, d])
        self.close[u, d:] *= np.exp(ret - old)
        self.prev_close[u, 1:] = self.close[u, :-1]
        self.gap[u, d] = 0.4 * ret

    def shift_return(self, u: int, d: int, delta: float) -> None:
        """Add ``delta`` to underlying ``u``'s session-``d`` log-return (later closes shift)."""
        self.close[u, d:] *= np.exp(delta)
        self.prev_close[u, 1:] = self.close[u, :-1]
        self.gap[u, d] += 0.4 * delta

    def pull_to(self, u: int, sessions: list[int], target: float, strength: float) -> None:
        """Pull closes of ``sessions`` towards ``target`` (max-pain pinning), geometrically."""
        for j, d in enumerate(sessions):
            a = strength ** (j + 1)
            self.close[u, d] = target + (self.close[u, d] - target) * a
        self.prev_close[u, 1:] = self.close[u, :-1]


def daily_paths(
    uni: Universe,
    n_sessions: int,
    seed: int,
    earn_jump: np.ndarray,
    event_sd: np.ndarray | None = None,
) -> DailyPaths:
    """Closes for every underlying and session.

    ``earn_jump[i]`` is the log gap of underlying ``i`` on its report session (0 if none).
    ``event_sd[d]`` the implied market move of a scheduled macro event on session ``d`` (0 if
    none, daily log-return sd): the market factor gets an extra shock of sd ``_VRP x
    event_sd[d]`` that session (its own random stream, so the rest of the path is unchanged).
    """
    d = n_sessions
    g = keyed(seed, "market", 0)
    u_m = g.random((d, 4))
    stressed = np.zeros(d, dtype=bool)
    state = u_m[0, 0] < 0.15
    for j in range(d):  # a loop over sessions only
        state = (u_m[j, 0] < 0.92) if state else (u_m[j, 0] < 0.03)
        stressed[j] = state
    z_m = ndtri(u_m[:, 3].clip(1e-9, 1 - 1e-9))
    z_v = ndtri(g.random(d).clip(1e-9, 1 - 1e-9))
    jump = np.where(u_m[:, 1] < 0.01, -0.025 + 0.01 * ndtri(u_m[:, 2].clip(1e-9, 1 - 1e-9)), 0.0)
    # Stochastic vol: log VIX mean-reverts to the regime level with shocks correlated -0.85
    # with the market's; the market's daily vol is VRP x the SPX implied vol of the previous
    # close (realized ~0.85 x implied, the real Barchart SPX history: 0.84 over 71 sessions).
    iv_spx0 = float(uni.iv0[0]) if len(uni) and uni.ticker[0] == "SPX" else 0.15
    vix = np.empty(d)
    m = np.empty(d)
    lv = np.log(np.where(stressed[0], 20.0, 14.0))
    ev = np.zeros(d) if event_sd is None else np.asarray(event_sd, dtype=np.float64)[:d]
    z_ev = ndtri(keyed(seed, "macro", 0).random(d).clip(1e-9, 1 - 1e-9))
    for j in range(d):  # a loop over sessions only
        sig = _VRP * iv_spx0 * (np.exp(lv) / 14.0) ** 0.8 / _SQRT252
        m[j] = sig * z_m[j] + jump[j] + _VRP * ev[j] * z_ev[j]
        target = np.log(np.where(stressed[j], 24.0, 14.0))
        eps = -0.85 * z_m[j] + np.sqrt(1.0 - 0.85**2) * z_v[j]
        lv = lv + 0.12 * (target - lv) + 0.075 * eps + np.where(jump[j] < 0, 0.25, 0.0)
        vix[j] = np.exp(lv)
    iv_scale = (vix / 14.0) ** 0.8

    n = len(uni)
    z = ndtri(per_underlying(seed, "daily", 0, np.arange(n), np.full(n, d), 2).clip(1e-9, 1 - 1e-9))
    z_idio = z[:, 0].reshape(n, d)
    z_gap = z[:, 1].reshape(n, d)
    sig_ann_m = _VRP * iv_spx0
    iv_r = _VRP * uni.iv0
    idio = np.sqrt(np.maximum(iv_r**2 - (uni.beta * sig_ann_m) ** 2, (0.3 * iv_r) ** 2)) / _SQRT252
    idio = idio[:, None] * np.sqrt(iv_scale)[None, :]
    idio = np.where((uni.kind == 0)[:, None], 0.0, idio)
    r = uni.beta[:, None] * m[None, :] + idio * z_idio
    tick = list(uni.ticker)
    for child, parent in (("SPY", "SPX"), ("NDX", "QQQ"), ("RUT", "IWM")):
        if child in tick and parent in tick:
            r[tick.index(child)] = r[tick.index(parent)] + 0.0002 * z_idio[tick.index(child)]
    if "SPX" in tick:
        r[tick.index("SPX")] = m + 0.0002 * z_idio[tick.index("SPX")]
    eo = uni.earn_offset
    has = (eo >= 0) & (eo < d)
    r[np.flatnonzero(has), eo[has]] += earn_jump[has]
    close = uni.price0[:, None] * np.exp(np.cumsum(r, axis=1))
    if "VIX" in tick:
        close[tick.index("VIX")] = vix
    prev = np.concatenate([uni.price0[:, None], close[:, :-1]], axis=1)
    gap = 0.4 * np.log(close / prev) + 0.15 * idio * z_gap
    if has.any():
        gap[np.flatnonzero(has), eo[has]] = earn_jump[has]
    return DailyPaths(close, prev, gap, m, stressed, vix, iv_scale)


def intraday_grid(
    paths: DailyPaths, uids: np.ndarray, session: int, seed: int, iv_daily: np.ndarray
) -> np.ndarray:
    """Spot on the 5-minute grid, ``(len(uids), GRID_POINTS)``, ending exactly at the close.

    A Brownian bridge in log-price from ``log(open)`` to ``log(close)`` with per-step vol
    ``iv_daily / sqrt(78)``.
    """
    n = len(uids)
    steps = GRID_POINTS - 1
    u = per_underlying(seed, "intraday", session, uids, np.ones(n, dtype=np.int64), steps)
    dw = ndtri(u.clip(1e-9, 1 - 1e-9)) * (iv_daily[:, None] / np.sqrt(steps))
    w = np.concatenate([np.zeros((n, 1)), np.cumsum(dw, axis=1)], axis=1)
    tgrid = np.linspace(0.0, 1.0, GRID_POINTS)
    bridge = w - tgrid[None, :] * w[:, -1:]
    lo = np.log(paths.prev_close[uids, session]) + paths.gap[uids, session]
    lc = np.log(paths.close[uids, session])
    return np.exp(lo[:, None] + tgrid[None, :] * (lc - lo)[:, None] + bridge)
