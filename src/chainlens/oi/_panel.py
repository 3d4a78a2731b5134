"""The OI history as a dense (contract x session) panel on integer keys: the fast core of the OI
history operations (changes, streaks, rolls).

Contracts get an integer key (dictionary index of ``symbol``), sessions an index within their
underlying (0 = oldest); OI and volume are scattered once into ``float64`` matrices of shape
``(contracts, sessions)`` (NaN where the contract is not listed or the value is null). Changes are
column differences, streaks a run-length recurrence along the session axis (a loop over
sessions, vectorised over contracts), and the roll legs are column reads. Cost O(rows), no sort.

Stale repeats
-------------
A session of an underlying is a *stale repeat* when every contract listed in it and in the
previous session has exactly the same OI, the overlap is not empty, and the previous session
traded (positive total volume) or has no volume at all (OI-only OCC history). Real OI never
repeats exactly across a traded session; a repeated vendor file does (the OCC adapter keeps
the last pull of a history file, which repeats the previous session). Stale sessions are dropped
(``OIConfig.drop_stale``) and listed in :attr:`Panel.stale`; an underlying whose volume was zero
everywhere keeps its sessions (an unchanged OI is then genuine).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens.errors import InputError

__all__ = ["Panel", "build_panel", "cached_panel"]

_NEEDED = (
    "trade_date",
    "underlying",
    "root",
    "symbol",
    "expiry",
    "strike",
    "right",
    "open_interest",
)
_EPOCH = dt.date(1970, 1, 1)


def _codes(col: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dictionary indices (one hash pass over the combined column) and the dictionary."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    enc = pc.dictionary_encode(arr)
    idx = enc.indices
    if idx.null_count:
        idx = pc.fill_null(idx, 0)
    return idx.to_numpy(zero_copy_only=False), enc.dictionary


#: One-entry cache: the last panel built, with the table it was built from (compared by
#: identity, and held, so an id is never reused) and its settings. ``analyze_oi`` and the
#: scanners call changes, streaks and rolls on the same history; they share one panel.
_CACHE: list[tuple[pa.Table, object, bool, Panel]] = []


def cached_panel(history: pa.Table, *, as_of: dt.date | None, drop_stale: bool) -> Panel:
    """:func:`build_panel`, reusing the previous result for the same table and settings."""
    if as_of is not None and history.num_rows:
        last = pc.max(history.column("trade_date")).as_py()
        if last is not None and as_of >= last:
            as_of = None
    for h, a, d, p in _CACHE:
        if h is history and a == as_of and d == drop_stale:
            return p
    p = build_panel(history, as_of=as_of, drop_stale=drop_stale)
    _CACHE[:] = [(history, as_of, drop_stale, p)]
    return p


def _f64(col: pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(col.cast(pa.float64()), np.nan).to_numpy()


@dataclass(slots=True)
class Panel:
    """Dense OI history (see the module notes). Row arrays are aligned with :attr:`table`."""

    table: pa.Table  # input rows on or before as_of (all of them, duplicates included)
    cid: np.ndarray  # contract key per row
    uid: np.ndarray  # underlying key per row
    si: np.ndarray  # session index per row, -1 for rows of a dropped (stale) session
    keep: np.ndarray  # row is the retained snapshot of its (contract, session)
    oi: np.ndarray  # (contracts, sessions) float64, NaN = not listed / null
    vol: np.ndarray  # same for volume
    listed: np.ndarray  # (contracts, sessions) bool
    row_at: np.ndarray  # (contracts, sessions) int64 row index, -1 = not listed
    con_uid: np.ndarray  # underlying key per contract
    expiry_day: np.ndarray  # days since epoch per contract
    sess_day: np.ndarray  # (underlyings, sessions) days since epoch, -1 = none
    n_sessions: np.ndarray  # sessions per underlying (after dropping stale ones)
    underlyings: pa.Array
    stale: list[tuple[str, dt.date]] = field(default_factory=list)

    def last_row(self) -> np.ndarray:
        """Row index of each contract's latest retained snapshot (-1 if none)."""
        out = np.full(self.row_at.shape[0], -1, np.int64)
        for j in range(self.row_at.shape[1]):  # a loop over sessions
            r = self.row_at[:, j]
            out = np.where(r >= 0, r, out)
        return out

    def date(self, u: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Session dates (``datetime64[D]``) of underlying keys ``u`` at session indices ``j``."""
        return self.sess_day[u, np.clip(j, 0, self.sess_day.shape[1] - 1)].astype("datetime64[D]")


def build_panel(
    history: pa.Table, *, as_of: dt.date | None = None, drop_stale: bool = True
) -> Panel:
    """Build the :class:`Panel` of canonical chain snapshots (rows up to ``as_of``)."""
    missing = [c for c in _NEEDED if c not in history.column_names]
    if missing:
        raise InputError(
            f"OI history lacks column(s) {missing}", hint="pass canonical chain snapshots"
        )
    t = history
    if as_of is not None:
        t = t.filter(pc.less_equal(t.column("trade_date"), pa.scalar(as_of, pa.date32())))
    n = t.num_rows
    day = (
        t.column("trade_date").cast(pa.int32()).to_numpy().astype(np.int64)
        if n
        else np.zeros(0, np.int64)
    )
    cid, _ = _codes(t.column("symbol")) if n else (np.zeros(0, np.int64), pa.array([], pa.string()))
    uid, unders = (
        _codes(t.column("underlying")) if n else (np.zeros(0, np.int64), pa.array([], pa.string()))
    )
    oi_row = _f64(t.column("open_interest")) if n else np.zeros(0)
    vol_row = _f64(t.column("volume")) if n and "volume" in t.column_names else np.full(n, np.nan)
    n_u = len(unders)
    n_c = int(cid.max()) + 1 if n else 0
    dmin = int(day.min()) if n else 0
    span = int(day.max()) - dmin + 1 if n else 1
    ud_present = np.zeros((n_u, span), bool)
    ud_present[uid, day - dmin] = True
    stale: list[tuple[str, dt.date]] = []
    for _ in range(2):  # build, then rebuild once without the stale sessions
        si_tab = np.cumsum(ud_present, axis=1) - 1
        n_sess = ud_present.sum(axis=1)
        width = int(n_sess.max()) if n_u else 0
        si = np.where(ud_present[uid, day - dmin], si_tab[uid, day - dmin], -1)
        ok = si >= 0
        row_at = np.full((n_c, max(width, 1)), -1, np.int64)
        rows = np.flatnonzero(ok)
        row_at[cid[rows], si[rows]] = rows  # a later row of the same (contract, session) wins
        listed = row_at >= 0
        ridx = np.where(listed, row_at, 0)
        oi = np.where(listed, oi_row[ridx] if n else 0.0, np.nan)
        vol = np.where(listed, vol_row[ridx] if n else 0.0, np.nan)
        sess_day = np.full((n_u, max(width, 1)), -1, np.int64)
        uu, dd = np.nonzero(ud_present)
        sess_day[uu, si_tab[uu, dd]] = dd + dmin
        con_uid = np.zeros(n_c, np.int64)
        con_uid[cid] = uid
        if not drop_stale or width < 2 or stale:
            break
        found = False
        for j in range(1, width):  # a loop over sessions
            both = listed[:, j] & listed[:, j - 1]
            same = ~(oi[:, j] != oi[:, j - 1])  # NaN == NaN counts as same
            diff_u = np.bincount(con_uid[both & ~same], minlength=n_u)
            both_u = np.bincount(con_uid[both], minlength=n_u)
            v_prev = np.where(listed[:, j - 1], vol[:, j - 1], np.nan)
            vol_u = np.bincount(con_uid, weights=np.nan_to_num(v_prev), minlength=n_u)
            known_u = np.bincount(con_uid, weights=np.isfinite(v_prev), minlength=n_u)
            rep = (both_u > 0) & (diff_u == 0) & ((vol_u > 0) | (known_u == 0))
            for u in np.flatnonzero(rep).tolist():  # a loop over stale (underlying, session)s
                d = int(sess_day[u, j])
                ud_present[u, d - dmin] = False
                stale.append((str(unders[u].as_py()), _EPOCH + dt.timedelta(days=d)))
                found = True
        if not found:
            break
    keep = np.zeros(n, bool)
    keep[row_at[row_at >= 0]] = True
    exp = np.zeros(n_c, np.int64)
    if n:
        exp[cid] = t.column("expiry").cast(pa.int32()).to_numpy().astype(np.int64)
    return Panel(
        table=t,
        cid=cid,
        uid=uid,
        si=si,
        keep=keep,
        oi=oi,
        vol=vol,
        listed=listed,
        row_at=row_at,
        con_uid=con_uid,
        expiry_day=exp,
        sess_day=sess_day,
        n_sessions=n_sess,
        underlyings=unders,
        stale=sorted(stale),
    )


def changes_matrix(p: Panel) -> np.ndarray:
    """``OI(j+1) - OI(j)`` per contract and session (NaN where either is missing)."""
    ch = np.full(p.oi.shape, np.nan)
    if p.oi.shape[1] > 1:
        ch[:, :-1] = p.oi[:, 1:] - p.oi[:, :-1]
    return ch


def streak_matrices(
    p: Panel, ch: np.ndarray, min_contracts: float, min_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``growing``, ``streak`` (run length ending at each session) and ``streak_change``."""
    with np.errstate(invalid="ignore"):
        grow = ch > np.maximum(min_contracts, min_fraction * p.oi)
    streak = np.zeros(ch.shape, np.int64)
    total = np.zeros(ch.shape, np.float64)
    prev_s = np.zeros(ch.shape[0], np.int64)
    prev_t = np.zeros(ch.shape[0], np.float64)
    for j in range(ch.shape[1]):  # a loop over sessions, vectorised over contracts
        g = grow[:, j]
        prev_s = np.where(g, prev_s + 1, 0)
        prev_t = np.where(g, prev_t + np.nan_to_num(ch[:, j]), 0.0)
        streak[:, j] = prev_s
        total[:, j] = prev_t
    return grow, streak, total
