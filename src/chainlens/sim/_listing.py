"""Listed series as exchanges list them: expiry schedules, strike grids, contract keys.

Expiries (per listing tier; dates are sessions, a holiday Friday moves to the Thursday):

* dailies, Monday-Friday, the next 12 sessions incl. 0DTE: SPX (SPXW), NDX (NDXP), RUT (RUTW),
  SPY, QQQ, IWM;
* weeklies (Fridays): 6 (tiers 0-1), 4 (tier 2), none (tier 3);
* standard monthlies (third Friday): 6 / 4 / 4 / 4. Index monthlies are listed twice: the
  AM-settled root (SPX, NDX, RUT), last traded the session before expiry, and the PM root
  (SPXW, NDXP, RUTW) traded through expiry day;
* quarterlies (Mar/Jun/Sep/Dec third Fridays, within a year): 4 / 3 / 2 / 2;
* LEAPS (January third Fridays more than 9 months out): 2 / 2 / 1 / 1;
* VIX: the next 6 VIX monthlies (Wednesdays, AM-settled, root VIX).

Strikes: a fine band of ``n_near`` increments either side of the spot, a far band at a coarser
increment out to ``clip(z iv sqrt(T), 5%, 25%)`` and, for tier 0, wings out to
``clip(6 iv sqrt(T), 15%, 70%)``. Increments by price level (stocks: 0.5 / 1 / 2.5 / 5 / 10;
SPX 5/25/100; NDX 10/50/250; RUT 5/25/100; SPY/QQQ/IWM 1/5). Series persist until expiry:
each session's listing is the previous one (minus expired series) plus new expiries and any
new strikes the moved spot calls for.

Contract key (int64): ``uid << 43 | expiry_day << 27 | am << 26 | strike_milli << 1 | put``.
Sorting keys sorts by underlying, expiry, root (PM first), strike, right (call first); the
call and put of a strike are adjacent, the call at an even position.
"""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np

from chainlens import calendar as cal
from chainlens.sim._universe import DAILY_EXPIRY, Universe

__all__ = ["decode_keys", "encode_keys", "listing_for_session"]

_EPOCH = np.datetime64("1970-01-01", "D")
_STRIKE_BITS = 25
_MAX_STRIKE_MILLI = (1 << _STRIKE_BITS) - 1

# tier -> (weeklies, monthlies, quarterlies, leaps, n_near, z_far)
_TIERS = {
    0: (6, 6, 4, 2, 40, 3.5),
    1: (6, 4, 3, 2, 12, 3.0),
    2: (4, 4, 2, 1, 12, 2.2),
    3: (0, 4, 2, 1, 12, 1.8),
}


def encode_keys(
    uid: np.ndarray, exp_day: np.ndarray, am: np.ndarray, strike_milli: np.ndarray, put: np.ndarray
) -> np.ndarray:
    """Contract keys (see module notes)."""
    return (
        (uid.astype(np.int64) << 43)
        | (exp_day.astype(np.int64) << 27)
        | (am.astype(np.int64) << 26)
        | (strike_milli.astype(np.int64) << 1)
        | put.astype(np.int64)
    )


def decode_keys(keys: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(uid, exp_day, am, strike_milli, put)`` of each key."""
    return (
        keys >> 43,
        (keys >> 27) & 0xFFFF,
        (keys >> 26) & 1,
        (keys >> 1) & _MAX_STRIKE_MILLI,
        keys & 1,
    )


def _day(d: object) -> int:
    return int((np.datetime64(d, "D") - _EPOCH).astype(np.int64))  # type: ignore[call-overload]


@functools.cache
def _expiry_sets(session_day: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per listing class, ``(expiry_days, am_flags)`` listed at the session ``session_day``."""
    d0 = _EPOCH + np.timedelta64(session_day, "D")
    today = d0.astype(dt.date)
    horizon = cal.sessions_in_range(today, today + dt.timedelta(days=40))
    dailies = [_day(s) for s in horizon[:12]]
    fridays: list[int] = []
    f = today + dt.timedelta(days=(4 - today.weekday()) % 7)
    while len(fridays) < 8:
        e = _day(cal.session_on_or_before(f))
        if e >= session_day:
            fridays.append(e)
        f += dt.timedelta(days=7)
    monthly: list[int] = []
    quarterly: list[int] = []
    leaps: list[int] = []
    vix: list[int] = []
    y, m = today.year, today.month
    for i in range(40):
        yy, mm = y + (m - 1 + i) // 12, (m - 1 + i) % 12 + 1
        e = _day(cal.standard_monthly_expiry(yy, mm))
        if e >= session_day:
            if len(monthly) < 6:
                monthly.append(e)
            if mm % 3 == 0 and e - session_day <= 366:
                quarterly.append(e)
            if mm == 1 and e - session_day > 270:
                leaps.append(e)
        if len(vix) < 6:
            v = _day(cal.vix_monthly_expiry(yy, mm))
            if v > session_day:
                vix.append(v)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for tier, (nw, nm, nq, nl, _, _) in _TIERS.items():
        for daily in (False, True):
            for index in (False, True):
                pm = set(fridays[:nw]) | set(monthly[:nm]) | set(quarterly[:nq]) | set(leaps[:nl])
                if daily:
                    pm |= set(dailies)
                exps = sorted(pm)
                ams = [0] * len(exps)
                if index:  # AM root on the monthly cycle, last traded the session before
                    am_exps = sorted(
                        {e for e in monthly[:nm] + quarterly[:nq] + leaps[:nl] if e > session_day}
                    )
                    exps += am_exps
                    ams += [1] * len(am_exps)
                out[f"{tier}{int(daily)}{int(index)}"] = (
                    np.asarray(exps, np.int64),
                    np.asarray(ams, np.int64),
                )
    out["vix"] = (np.asarray(vix, np.int64), np.ones(len(vix), np.int64))
    return out


def _increments(
    uni: Universe, uids: np.ndarray, spot: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Near, far and wing strike increments (USD) per underlying at its spot."""
    tier = uni.tier[uids]
    kind = uni.kind[uids]
    top = tier <= 1
    near = np.select(
        [spot < 5, spot < 25, spot < 100, spot < 200, spot < 500, spot >= 500],
        [
            np.full_like(spot, 0.5),
            np.where(top, 0.5, 1.0),
            np.where(top, 1.0, 2.5),
            np.full_like(spot, 2.5),
            np.full_like(spot, 5.0),
            np.full_like(spot, 10.0),
        ],
    )
    near = np.where((kind == 1) & (spot >= 50), 1.0, near)
    near = np.where((kind == 1) & (spot < 50), 0.5, near)
    far = np.where(top, 5.0, 2.0) * near
    wing = 4.0 * far
    t = uni.ticker[uids]
    for name, (a, b, c) in {
        "SPX": (5.0, 25.0, 100.0),
        "NDX": (10.0, 50.0, 250.0),
        "RUT": (5.0, 25.0, 100.0),
        "VIX": (1.0, 5.0, 10.0),
    }.items():
        sel = t == name
        near = np.where(sel, a, near)
        far = np.where(sel, b, far)
        wing = np.where(sel, c, wing)
    return near, far, wing


def _ragged(center: np.ndarray, half: np.ndarray, inc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each block ``b``: strikes ``center_b + j inc_b``, ``|j| <= half_b``; returns (block, strike)."""
    cnt = 2 * half + 1
    blk = np.repeat(np.arange(len(center)), cnt)
    start = np.cumsum(cnt) - cnt
    j = np.arange(int(cnt.sum())) - np.repeat(start, cnt) - np.repeat(half, cnt)
    return blk, center[blk] + j * inc[blk]


def listing_for_session(
    uni: Universe,
    uids: np.ndarray,
    session: dt.date,
    spot: np.ndarray,
    iv30: np.ndarray,
    prev_keys: np.ndarray | None,
) -> np.ndarray:
    """Sorted contract keys listed at ``session`` for underlyings ``uids``.

    ``spot`` and ``iv30`` are per underlying (aligned with ``uids``): the spot the strike grid
    is centred on and the ATM vol that sets how far the grid reaches.
    """
    sday = _day(session)
    sets = _expiry_sets(sday)
    tick = uni.ticker[uids]
    tier = uni.tier[uids].astype(np.int64)
    daily = np.isin(tick, list(DAILY_EXPIRY))
    index = uni.kind[uids] == 0
    cls = np.char.add(
        np.char.add(tier.astype(str), daily.astype(int).astype(str)), index.astype(int).astype(str)
    )
    cls = np.where(tick == "VIX", "vix", cls)
    b_u, b_e, b_am = [], [], []
    for c in np.unique(cls):
        sel = np.flatnonzero(cls == c)
        e, a = sets[str(c)]
        b_u.append(np.repeat(sel, len(e)))
        b_e.append(np.tile(e, len(sel)))
        b_am.append(np.tile(a, len(sel)))
    bu = np.concatenate(b_u)  # position within uids
    be = np.concatenate(b_e)
    bam = np.concatenate(b_am)
    t = (be - sday + 0.5) / 365.0
    near, far, wing = _increments(uni, uids, spot)
    n_near = np.array([v[4] for v in _TIERS.values()])[tier]
    z_far = np.array([v[5] for v in _TIERS.values()])[tier]
    s = spot[bu]
    vol_t = iv30[bu] * np.sqrt(t)
    blocks = []
    # near band
    inc = near[bu]
    blocks.append(_ragged(np.round(s / inc) * inc, n_near[bu], inc))
    # far band
    inc = far[bu]
    w = np.clip(z_far[bu] * vol_t, 0.05, 0.25)
    blocks.append(_ragged(np.round(s / inc) * inc, np.ceil(w * s / inc).astype(np.int64), inc))
    # wings (tier 0)
    inc = wing[bu]
    w = np.where(tier[bu] == 0, np.clip(6.0 * vol_t, 0.15, 0.7), 0.0)
    blocks.append(_ragged(np.round(s / inc) * inc, np.ceil(w * s / inc).astype(np.int64), inc))
    blk = np.concatenate([b for b, _ in blocks])
    k = np.concatenate([x for _, x in blocks])
    ok = (k > 0) & (k >= 0.2 * s[blk]) & (k <= 4.0 * s[blk])
    blk, k = blk[ok], k[ok]
    km = np.round(k * 1000.0).astype(np.int64)
    km = np.minimum(km, _MAX_STRIKE_MILLI)
    ug = uids[bu[blk]]
    calls = encode_keys(ug, be[blk], bam[blk], km, np.zeros_like(km))
    keys = np.concatenate([calls, calls | 1])
    if prev_keys is not None and len(prev_keys):
        _, pe, pam, _, _ = decode_keys(prev_keys)
        alive = np.where(pam == 1, pe > sday, pe >= sday)
        keys = np.concatenate([keys, prev_keys[alive]])
    return np.unique(keys)
