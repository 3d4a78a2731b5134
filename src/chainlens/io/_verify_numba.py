"""Compiled row pass of :mod:`chainlens.io._verify` (Numba, ``cache=True``).

One sequential pass over a block of chain rows in the store's layout. Strings arrive as Arrow
buffers: ``symbol`` as (offsets, bytes); ``underlying``, ``root`` and ``right`` as dictionary
indices into (offsets, bytes) of their dictionary values. The pass returns a status code and
writes the starts of the (underlying, snapshot) runs; it never decides a reject (a non-zero
code only sends the file to the full validation, which says what is wrong and where).
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = [
    "STATUS",
    "TRADES_STATUS",
    "check_chain_block",
    "check_trades_block",
    "first_repeated_key",
]

#: Meaning of the codes returned by :func:`check_chain_block` (0 = every row passed).
STATUS = {
    0: "clean",
    1: "trade_date differs from the file's session",
    2: "expiry before the session",
    3: "strike not finite and > 0",
    4: "right is not C or P",
    5: "symbol length outside 16..21 (not a compact OSI symbol)",
    6: "symbol root differs from the root column",
    7: "symbol date digits differ from the expiry column",
    8: "symbol right differs from the right column",
    9: "symbol strike digits differ from the strike column (exactly)",
    10: "rows out of the store's sort order",
    11: "two consecutive rows with the same sort key (a duplicate contract)",
}


@nb.njit(cache=True, nogil=True, inline="always")
def _cmp(a, a0, a1, b, b0, b1):  # type: ignore[no-untyped-def]
    """Bytewise lexicographic comparison of a[a0:a1] and b[b0:b1] (-1, 0, 1), like Arrow's."""
    la = a1 - a0
    lb = b1 - b0
    m = la if la < lb else lb
    for k in range(m):
        x = a[a0 + k]
        y = b[b0 + k]
        if x != y:
            return -1 if x < y else 1
    if la == lb:
        return 0
    return -1 if la < lb else 1


@nb.njit(cache=True, nogil=True, inline="always")
def _yymmdd(days):  # type: ignore[no-untyped-def]
    """(YYMMDD, year) of a day number since 1970-01-01 (proleptic Gregorian; H. Hinnant's
    ``civil_from_days``)."""
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    return (y % 100) * 10000 + m * 100 + d, y


@nb.njit(cache=True, nogil=True)
def check_chain_block(  # type: ignore[no-untyped-def]
    sym_off,
    sym_dat,
    root_ix,
    root_off,
    root_dat,
    right_ix,
    right_off,
    right_dat,
    und_ix,
    und_off,
    und_dat,
    trade_date,
    expiry,
    ts,
    strike,
    day,
    starts,
    pairs,
    ordered,
):
    """Check a block row by row; returns (status, run starts written, pair codes written,
    whether the block is strictly in the store's sort order).

    Per row ``i``: ``trade_date == day``; ``expiry >= day``; ``0 < strike < inf``; the right
    is ``C`` or ``P``; the symbol is ``root + YYMMDD + right + 8 digits`` with the root, the
    expiry's ``YYMMDD`` (year 2000..2099), the right and ``digits / 1000 == strike`` exactly;
    and the sort key (underlying, snapshot_ts, expiry, strike, right, root) of row ``i`` is
    strictly greater than row ``i - 1``'s. ``starts`` receives the rows where (underlying,
    snapshot_ts) changes (row 0 included); ``pairs`` receives the code ``u * n_roots + r`` of
    the (underlying index, root index) pair of each row whose pair differs from the previous
    row's (so every pair present appears at least once). With ``ordered`` False, rows out
    of order (or repeating the previous row's key) only clear the returned flag; the caller
    then rules out duplicates by hashing (:func:`first_repeated_key`).
    """
    n = sym_off.shape[0] - 1
    n_roots = root_off.shape[0] - 1
    n_starts = 0
    n_pairs = 0
    in_order = True
    last_e = np.int32(-(2**31))
    last_want = np.int64(-1)
    for i in range(n):
        if trade_date[i] != day:
            return 1, n_starts, n_pairs, False
        e = expiry[i]
        if e < day:
            return 2, n_starts, n_pairs, False
        k = strike[i]
        if not (k > 0.0 and k < np.inf):
            return 3, n_starts, n_pairs, False
        ri = right_ix[i]
        r0 = right_off[ri]
        if right_off[ri + 1] - r0 != 1:
            return 4, n_starts, n_pairs, False
        rb = right_dat[r0]
        if rb != 67 and rb != 80:  # C, P
            return 4, n_starts, n_pairs, False
        s0 = sym_off[i]
        s1 = sym_off[i + 1]
        slen = s1 - s0
        if slen < 16 or slen > 21:
            return 5, n_starts, n_pairs, False
        oi = root_ix[i]
        o0 = root_off[oi]
        olen = root_off[oi + 1] - o0
        if olen != slen - 15:
            return 6, n_starts, n_pairs, False
        for j in range(olen):
            if sym_dat[s0 + j] != root_dat[o0 + j]:
                return 6, n_starts, n_pairs, False
        p = s0 + olen
        ymd = 0
        for j in range(6):
            c = sym_dat[p + j] - 48
            if c < 0 or c > 9:
                return 7, n_starts, n_pairs, False
            ymd = ymd * 10 + c
        if e != last_e:  # rows come sorted by expiry within a snapshot: convert once per run
            last_e = e
            last_want, year = _yymmdd(np.int64(e))
            if year < 2000 or year > 2099:
                return 7, n_starts, n_pairs, False
        if ymd != last_want:
            return 7, n_starts, n_pairs, False
        if sym_dat[p + 6] != rb:
            return 8, n_starts, n_pairs, False
        units = 0
        for j in range(7, 15):
            c = sym_dat[p + j] - 48
            if c < 0 or c > 9:
                return 9, n_starts, n_pairs, False
            units = units * 10 + c
        if units / 1000.0 != k:
            return 9, n_starts, n_pairs, False
        ui = und_ix[i]
        if i == 0 or ui != und_ix[i - 1] or oi != root_ix[i - 1]:
            pairs[n_pairs] = np.int64(ui) * n_roots + oi
            n_pairs += 1
        if i == 0:
            starts[0] = 0
            n_starts = 1
            continue
        # sort key against the previous row: underlying, snapshot_ts, expiry, strike, right, root
        uj = und_ix[i - 1]
        c = (
            0
            if ui == uj
            else _cmp(und_dat, und_off[ui], und_off[ui + 1], und_dat, und_off[uj], und_off[uj + 1])
        )
        new_run = c != 0
        if c == 0:
            t, tp = ts[i], ts[i - 1]
            c = 0 if t == tp else (1 if t > tp else -1)
            new_run = c != 0
        if c == 0:
            ep = expiry[i - 1]
            c = 0 if e == ep else (1 if e > ep else -1)
        if c == 0:
            kp = strike[i - 1]
            c = 0 if k == kp else (1 if k > kp else -1)
        if c == 0:
            rj = right_ix[i - 1]
            c = (
                0
                if ri == rj
                else _cmp(right_dat, r0, r0 + 1, right_dat, right_off[rj], right_off[rj + 1])
            )
        if c == 0:
            oj = root_ix[i - 1]
            c = (
                0
                if oi == oj
                else _cmp(root_dat, o0, o0 + olen, root_dat, root_off[oj], root_off[oj + 1])
            )
        if c <= 0:
            if ordered:
                return 10 if c < 0 else 11, n_starts, n_pairs, False
            in_order = False
        if new_run:
            starts[n_starts] = i
            n_starts += 1
    return 0, n_starts, n_pairs, in_order


@nb.njit(cache=True, nogil=True)
def first_repeated_key(sym_off, sym_dat, ts, table):  # type: ignore[no-untyped-def]
    """Insert the 64-bit hash of each row's (snapshot_ts, symbol) into ``table`` (open
    addressing, power-of-two size, 0 = empty); returns the first row whose hash is already
    there (a duplicate key, or a collision of two keys), else -1. ``ts`` as ``uint64``.

    Hash: FNV-1a 64 over the symbol bytes, the timestamp mixed in with the golden-ratio
    multiplier, then the MurmurHash3 64-bit finalizer (so the low bits index the table)."""
    mask = np.uint64(table.shape[0] - 1)
    n = sym_off.shape[0] - 1
    for i in range(n):
        h = np.uint64(0xCBF29CE484222325)
        for j in range(sym_off[i], sym_off[i + 1]):
            h = (h ^ np.uint64(sym_dat[j])) * np.uint64(0x100000001B3)
        h ^= ts[i] * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xC4CEB9FE1A85EC53)
        h ^= h >> np.uint64(33)
        if h == 0:
            h = np.uint64(1)
        k = h & mask
        while table[k] != 0:
            if table[k] == h:
                return i
            k = (k + np.uint64(1)) & mask
        table[k] = h
    return -1


#: Meaning of the codes returned by :func:`check_trades_block` (0 = every row passed).
TRADES_STATUS = {
    0: "clean",
    1: "trade_date differs from the file's session",
    2: "expiry before the session",
    3: "strike not finite and > 0",
    4: "right is not C or P",
    5: "symbol length outside 16..21 (not a compact OSI symbol)",
    6: "symbol root differs from the root column",
    7: "symbol date digits differ from the expiry column",
    8: "symbol right differs from the right column",
    9: "symbol strike digits differ from the strike column (exactly)",
    10: STATUS[10],
}


@nb.njit(cache=True, nogil=True)
def check_trades_block(  # type: ignore[no-untyped-def]
    sym_off,
    sym_dat,
    root_ix,
    root_off,
    root_dat,
    right_ix,
    right_off,
    right_dat,
    und_ix,
    und_off,
    und_dat,
    trade_date,
    expiry,
    ts,
    strike,
    day,
    one_day,
    ordered,
):
    """Check a block of trades row by row; returns (status, whether the block is in the
    store's order, (underlying, ts) non-decreasing).

    Per row ``i``: ``trade_date == day`` when ``one_day`` (a verbatim publish holds one
    session), else any session; ``expiry >= trade_date``; ``0 < strike < inf``; the right is ``C`` or
    ``P``; the symbol is ``root + YYMMDD + right + 8 digits`` with the root, the expiry's
    ``YYMMDD`` (year 2000..2099), the right and ``digits / 1000 == strike`` exactly (the
    checks of :func:`check_chain_block`, written out again on purpose: a shared compiled
    helper returning the status measured four times slower per row). With ``ordered``, a row whose (underlying, ts) is
    below row ``i - 1``'s returns code 10; otherwise it only clears the returned flag (equal
    keys are in order: trades have no duplicate rule).
    """
    n = sym_off.shape[0] - 1
    in_order = True
    last_e = np.int32(-(2**31))
    last_want = np.int64(-1)
    for i in range(n):
        d = trade_date[i]
        if one_day and d != day:
            return 1, False
        e = expiry[i]
        if e < d:
            return 2, False
        k = strike[i]
        if not (k > 0.0 and k < np.inf):
            return 3, False
        ri = right_ix[i]
        r0 = right_off[ri]
        if right_off[ri + 1] - r0 != 1:
            return 4, False
        rb = right_dat[r0]
        if rb != 67 and rb != 80:  # C, P
            return 4, False
        s0 = sym_off[i]
        s1 = sym_off[i + 1]
        slen = s1 - s0
        if slen < 16 or slen > 21:
            return 5, False
        oi = root_ix[i]
        o0 = root_off[oi]
        olen = root_off[oi + 1] - o0
        if olen != slen - 15:
            return 6, False
        for j in range(olen):
            if sym_dat[s0 + j] != root_dat[o0 + j]:
                return 6, False
        p = s0 + olen
        ymd = 0
        for j in range(6):
            c = sym_dat[p + j] - 48
            if c < 0 or c > 9:
                return 7, False
            ymd = ymd * 10 + c
        if e != last_e:
            last_e = e
            last_want, year = _yymmdd(np.int64(e))
            if year < 2000 or year > 2099:
                return 7, False
        if ymd != last_want:
            return 7, False
        if sym_dat[p + 6] != rb:
            return 8, False
        units = 0
        for j in range(7, 15):
            c = sym_dat[p + j] - 48
            if c < 0 or c > 9:
                return 9, False
            units = units * 10 + c
        if units / 1000.0 != k:
            return 9, False
        if i == 0 or not in_order:
            continue
        # sort key against the previous row: underlying, then ts
        ui = und_ix[i]
        uj = und_ix[i - 1]
        c = (
            0
            if ui == uj
            else _cmp(und_dat, und_off[ui], und_off[ui + 1], und_dat, und_off[uj], und_off[uj + 1])
        )
        if c < 0 or (c == 0 and ts[i] < ts[i - 1]):
            if ordered:
                return 10, False
            in_order = False
    return 0, in_order
