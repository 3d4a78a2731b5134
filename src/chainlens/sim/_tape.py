"""The option trade tape, generated column-wise (no Python loop per trade).

Each underlying gets a number of *orders* per session; an order is a single print, a sweep
(split over several exchanges within milliseconds), a block, or a two-leg spread. Orders pick
their contract with probability proportional to ``w_T * exp(-|z|/lambda) * put_weight *
spacing`` (``z`` the standardised moneyness; 0DTE heavily weighted for the daily-expiry
products, so about 40-50% of SPX volume is 0DTE as in the real Cboe files), their time from a
U-shaped intraday intensity, the NBBO from the Black-76 value at the spot of that instant
(sticky-strike IV), and the price from the true aggressor side.

Condition codes (``trades.condition``; modelled on OPRA trade-message types)
--------------------------------------------------------------------------
``AUTO``  regular electronic single-leg trade.
``ISOI``  intermarket sweep order leg: same contract, same side, several exchanges, within a
          few milliseconds (one sweep = several rows).
``SLCN``  single-leg cross: a negotiated block (size >= 500).
``MLET``  multi-leg electronic: one leg of a spread/straddle/roll; the legs share the same
          timestamp, and the truth file links them by ``group_id``.

Exchange codes: ``CBOE C2 BZX EDGX ISE GEMX MRX PHLX NOM BX AMEX ARCA BOX MIAX PERL EMLD``
(SPX, RUT and VIX options trade on ``CBOE`` only, NDX on ``PHLX``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from chainlens.sim._vol import black76_price, quote

__all__ = ["CONDITIONS", "EXCHANGES", "Orders", "expand_orders"]

EXCHANGES = np.array(
    [
        "CBOE",
        "C2",
        "BZX",
        "EDGX",
        "ISE",
        "GEMX",
        "MRX",
        "PHLX",
        "NOM",
        "BX",
        "AMEX",
        "ARCA",
        "BOX",
        "MIAX",
        "PERL",
        "EMLD",
    ],
    dtype=object,
)
CONDITIONS = np.array(["AUTO", "ISOI", "SLCN", "MLET"], dtype=object)
COND_AUTO, COND_ISO, COND_BLOCK, COND_MLEG = 0, 1, 2, 3
STYLE_NAMES = np.array(["single", "sweep", "block", "multileg"], dtype=object)


@dataclass(slots=True)
class Orders:
    """Orders (one row per order), before splitting into legs.

    ``side`` +1 customer buys, -1 sells. ``style``: 0 single, 1 sweep, 2 block, 3 spread.
    ``partner``: the second leg's contract for spreads (-1 otherwise), ``partner_side``.
    ``x``: where in the spread the price falls (0 bid, 1 ask). ``open_pref``: wants to open.
    """

    cidx: np.ndarray
    ts: np.ndarray  # int64 ns UTC
    side: np.ndarray
    size: np.ndarray
    style: np.ndarray
    x: np.ndarray
    n_legs: np.ndarray  # sweep legs (1 otherwise)
    exch: np.ndarray
    partner: np.ndarray
    partner_side: np.ndarray
    open_pref: np.ndarray
    forced: np.ndarray  # planted: open_pref is the truth, never flipped
    program: np.ndarray  # scenario id (-1 none)

    @staticmethod
    def concat(parts: list[Orders]) -> Orders:
        return Orders(*[np.concatenate([getattr(p, f) for p in parts]) for f in Orders.__slots__])


def sample_orders(
    u: np.ndarray,
    weights_cum: np.ndarray,
    n_per_group: np.ndarray,
    t_open_ns: int,
    t_close_ns: np.ndarray,
    size_scale: np.ndarray,
    exclusive_exch: np.ndarray,
    block_id: np.ndarray,
    put_buy_bias: np.ndarray,
) -> Orders:
    """Background orders from uniforms ``u`` (rows = orders, 12 columns).

    ``weights_cum`` is, per contract, ``group + cumulative normalised weight`` (strictly within
    ``(group, group+1]``), so one ``searchsorted`` picks contracts for all underlyings at once.
    ``n_per_group``, ``t_close_ns``, ``size_scale``, ``exclusive_exch`` (-1 none) and
    ``put_buy_bias`` are per underlying (group); ``block_id`` per contract.
    """
    n = len(u)
    grp = np.repeat(np.arange(len(n_per_group)), n_per_group)
    cidx = np.searchsorted(weights_cum, grp + u[:, 0], side="left")
    cidx = np.minimum(cidx, len(weights_cum) - 1)
    # U-shaped intraday intensity: the arcsine law on [open, close].
    f = 0.5 - 0.5 * np.cos(np.pi * u[:, 1])
    ts = t_open_ns + (f * (t_close_ns[grp] - t_open_ns)).astype(np.int64)
    style = np.select([u[:, 2] < 0.03, u[:, 2] < 0.033, u[:, 2] < 0.113], [1, 2, 3], 0).astype(
        np.int8
    )
    side = np.where(u[:, 3] < 0.5 + put_buy_bias[grp] * (cidx & 1), 1, -1).astype(np.int8)
    # Price placement: at the touch, inside near the touch, or around the mid.
    xr = u[:, 4]
    # about 42% at the touch, 30% inside near it, 28% around the mid (half exactly at it),
    # so ~50% of trades print strictly inside the NBBO (the real Cboe DataShop tape: 63%, 34%
    # at the mid)
    x_touch = np.where(
        xr < 0.42,
        1.0,
        np.where(
            xr < 0.72,
            0.6 + 0.35 * u[:, 5],
            np.where(u[:, 5] < 0.5, 0.5, 0.42 + 0.16 * u[:, 5]),
        ),
    )
    x = np.where(side > 0, x_touch, 1.0 - x_touch)
    x = np.where(style == 1, np.where(side > 0, 1.0, 0.0), x)
    x = np.where(style == 3, 0.3 + 0.4 * u[:, 5], x)
    zs = ndtri(np.clip(u[:, 6], 1e-9, 1 - 1e-9))
    base = 1.0 + np.floor(np.exp(0.6 + 1.2 * zs))
    size = np.select(
        [style == 1, style == 2],
        [20.0 + np.floor(np.exp(4.0 + 0.8 * zs)), 500.0 + np.floor(np.exp(5.5 + 0.8 * zs))],
        base * np.where(style == 3, 3.0, 1.0),
    )
    size = np.minimum(np.round(size * size_scale[grp]), 20_000).astype(np.int64)
    size = np.maximum(size, 1)
    n_legs = np.where(style == 1, 2 + np.floor(u[:, 7] * 4).astype(np.int64), 1)
    exch = np.floor(u[:, 8] * len(EXCHANGES)).astype(np.int64)
    ex_u = exclusive_exch[grp]
    exch = np.where(ex_u >= 0, ex_u, exch)
    # Spread partner: a vertical 1-3 strikes away (same right, same expiry) or the straddle leg.
    step = (1 + np.floor(u[:, 9] * 3).astype(np.int64)) * 2 * np.where(u[:, 10] < 0.5, -1, 1)
    cand = np.clip(cidx + step, 0, len(block_id) - 1)
    vertical = (block_id[cand] == block_id[cidx]) & (u[:, 11] < 0.7)
    partner = np.where(style == 3, np.where(vertical, cand, cidx ^ 1), -1)
    partner_side = np.where(vertical, -side, side).astype(np.int8)
    open_pref = np.zeros(n, dtype=np.float64)  # filled by the caller (depends on OI)
    return Orders(
        cidx=cidx,
        ts=ts,
        side=side,
        size=size,
        style=style,
        x=x,
        n_legs=n_legs,
        exch=exch,
        partner=partner,
        partner_side=partner_side,
        open_pref=open_pref,
        forced=np.zeros(n, dtype=bool),
        program=np.full(n, -1, dtype=np.int64),
    )


@dataclass(slots=True)
class Legs:
    """Tape rows (one per leg), unsorted."""

    cidx: np.ndarray
    ts: np.ndarray
    side: np.ndarray
    size: np.ndarray
    x: np.ndarray
    exch: np.ndarray
    cond: np.ndarray
    style: np.ndarray
    group: np.ndarray  # spread group id within the chunk (-1 none)
    want_open: np.ndarray
    forced: np.ndarray
    program: np.ndarray

    @staticmethod
    def concat(parts: list[Legs]) -> Legs:
        return Legs(*[np.concatenate([getattr(p, f) for p in parts]) for f in Legs.__slots__])


def expand_orders(o: Orders, u_open: np.ndarray, group_base: int) -> Legs:
    """Split orders into tape rows: sweeps into ``n_legs`` legs over consecutive exchanges
    1-3 ms apart (sizes split evenly, remainder on the first), spreads into two legs sharing the
    timestamp. ``u_open`` (one uniform per order) draws the open/close wish from ``open_pref``.
    """
    n = len(o.cidx)
    reps = np.where(o.style == 3, 2, o.n_legs)
    row = np.repeat(np.arange(n), reps)
    start = np.cumsum(reps) - reps
    leg = np.arange(len(row)) - start[row]
    is_spread = o.style[row] == 3
    second = is_spread & (leg == 1)
    cidx = np.where(second, o.partner[row], o.cidx[row])
    side = np.where(second, o.partner_side[row], o.side[row]).astype(np.int8)
    sweep = o.style[row] == 1
    ts = o.ts[row] + np.where(sweep, leg * (1_000_000 + (row % 2) * 700_000), 0)
    nl = reps[row]
    size = np.where(sweep, o.size[row] // nl + np.where(leg == 0, o.size[row] % nl, 0), o.size[row])
    size = np.maximum(size, 1)
    exch = np.where(sweep, (o.exch[row] + leg * 3) % len(EXCHANGES), o.exch[row])
    x = np.where(second, 1.0 - o.x[row], o.x[row])
    cond = np.select(
        [o.style[row] == 1, o.style[row] == 2, is_spread],
        [COND_ISO, COND_BLOCK, COND_MLEG],
        COND_AUTO,
    )
    group = np.where(is_spread, group_base + row, -1)
    want_open = np.where(o.forced[row], o.open_pref[row] > 0.5, u_open[row] < o.open_pref[row])
    if is_spread.any():  # the second leg of a spread draws its own wish
        want_open = np.where(
            second & ~o.forced[row], u_open[row] > 1.0 - o.open_pref[row], want_open
        )
        # a planted roll closes its first leg and opens its second
        want_open = np.where(second & o.forced[row], ~(o.open_pref[row] > 0.5), want_open)
    return Legs(
        cidx=cidx.astype(np.int64),
        ts=ts.astype(np.int64),
        side=side,
        size=size.astype(np.int64),
        x=x,
        exch=exch.astype(np.int64),
        cond=cond.astype(np.int64),
        style=o.style[row],
        group=group.astype(np.int64),
        want_open=want_open,
        forced=o.forced[row],
        program=o.program[row],
    )


def price_legs(
    legs: Legs,
    spot_at: np.ndarray,
    strike: np.ndarray,
    is_call: np.ndarray,
    settle_ns: np.ndarray,
    carry: np.ndarray,
    vix_like: np.ndarray,
    w_per_year: np.ndarray,
    r: float,
    spread_frac: np.ndarray,
    penny: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NBBO and trade price of each leg at its instant: Black-76 with the contract's IV.

    ``w_per_year`` is the contract's implied variance per year (sticky strike); ``carry`` the
    contract's ``r - q``; VIX-like underlyings use the spot as forward.
    """
    c = legs.cidx
    t = np.maximum((settle_ns[c] - legs.ts) / 1e9 / (365.0 * 86400.0), 0.0)
    s = spot_at
    f = np.where(vix_like[c], s, s * np.exp(carry[c] * t))
    w = w_per_year[c] * t
    k = strike[c]
    theo = black76_price(f, k, t, r, w, is_call[c])
    z = np.log(k / f) / np.sqrt(np.maximum(w, 1e-8))
    bid, ask, tick = quote(theo, z, spread_frac[c], penny[c])
    px = bid + legs.x * (ask - bid)
    # on the cent grid; a price half-way between two cents goes to the aggressor's side (on a
    # one-tick market a mid order cannot print inside the NBBO)
    px = np.round(np.maximum(px, 0.01) * 100.0 + 0.01 * legs.side) / 100.0
    return bid, ask, px
