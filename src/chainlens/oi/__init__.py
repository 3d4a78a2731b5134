"""chainlens.oi: open-interest analytics (seed 002).

Pure kernels over canonical chain snapshots (:data:`chainlens.schema.CHAIN`) across sessions;
OI-only histories (OCC: no volume or prices) are enough for changes, streaks, rolls, clusters,
term structure and OI put/call ratios.

Stale repeats: a session whose OI equals the previous session's for every contract (after a
traded session, or with unknown volume as in OCC files) is a repeated vendor file, not a
session; it is skipped (``OIConfig.drop_stale``) and listed in ``summary["stale_sessions"]``
(see :mod:`chainlens.oi._panel`). The OCC adapter's last pull of each history file is one.

Timing (SPEC): the OI in the snapshot of session D is the end of D-1; the change attributed to
D is ``OI(D+1) - OI(D)``, beside D's volume.

Composed entry for the pipeline
-------------------------------
``analyze_oi(history, session, *, events=None, config=None) -> OIResult``, and
``analyze_oi_many(histories, session, *, events=None, premiums=None, config=None)`` for several
underlyings in one pass (one equal :class:`OIResult` per history).

:class:`OIResult` fields (Arrow tables unless said): ``changes`` (per contract and session:
``oi_change``, ``vol_oi`` and ``vol_oi_band``, ``avg_volume_5d``, ``volume_multiple``),
``accumulation`` (streaks of >= 3 above-baseline sessions, SPEC scan keys), ``rolls`` (rolls
and naked closes, SPEC scan keys), ``clusters`` (top strikes), ``opposite`` (opposite-direction
buildup), ``term`` (OI by expiry with class and share), ``term_signals``, ``pcr`` (volume, OI,
premium ratios with seed bands), ``events`` (event-driven OI build, None without events),
``summary`` (dict), ``settings`` (dict).

Kernels: :func:`oi_changes`, :func:`streaks`, :func:`accumulation`, :func:`detect_rolls`,
:func:`window_changes`, :func:`oi_clusters`, :func:`opposite_buildup`,
:func:`term_structure`, :func:`term_signals`, :func:`put_call_ratios`,
:func:`event_oi_build`, :func:`band_of` with :data:`VOL_OI_BANDS` and :data:`PCR_BANDS`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens.errors import InputError
from chainlens.oi import _many
from chainlens.oi._bands import PCR_BANDS, VOL_OI_BANDS, band_of
from chainlens.oi._changes import CONTRACT_KEYS, oi_changes
from chainlens.oi._config import OIConfig
from chainlens.oi._encode import one_chunk as _one_chunk
from chainlens.oi._pcr import put_call_ratios
from chainlens.oi._positioning import OPPOSITE_MIN_SHARE as _OPPOSITE_MIN_SHARE
from chainlens.oi._positioning import oi_clusters, opposite_buildup
from chainlens.oi._rolls import detect_rolls, window_changes
from chainlens.oi._streaks import accumulation, accumulation_of, streaks
from chainlens.oi._term import event_oi_build, term_signals, term_structure

__all__ = [
    "CONTRACT_KEYS",
    "PCR_BANDS",
    "VOL_OI_BANDS",
    "OIConfig",
    "OIResult",
    "accumulation",
    "accumulation_of",
    "analyze_oi",
    "analyze_oi_many",
    "band_of",
    "detect_rolls",
    "event_oi_build",
    "oi_changes",
    "oi_clusters",
    "opposite_buildup",
    "put_call_ratios",
    "streaks",
    "term_signals",
    "term_structure",
    "window_changes",
]


@dataclass(frozen=True, slots=True)
class OIResult:
    """Everything :func:`analyze_oi` computes as of one session (see the package docstring)."""

    session: dt.date
    changes: pa.Table
    accumulation: pa.Table
    rolls: pa.Table
    clusters: pa.Table
    opposite: pa.Table
    term: pa.Table
    term_signals: pa.Table
    pcr: pa.Table
    events: pa.Table | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def _history_core(
    hist: pa.Table, last: pa.Table, cfg: OIConfig, last_of: pa.Table | None = None
) -> tuple[
    pa.Table, pa.Table, pa.Table, pa.Table | None, pa.Table, pa.Table, list[tuple[str, dt.date]]
]:
    """What :func:`analyze_oi` and :func:`analyze_oi_many` compute alike on a history (one or
    many underlyings): changes, accumulation, rolls, the last spot per underlying (from
    ``last``, the as-of session's rows), term structure, window changes, stale sessions.
    ``last_of``: the rows of each underlying's latest session in ``hist`` when known (the
    term structure reads only those; the same rows, in the same order, as its own filter)."""
    ch = oi_changes(hist, avg_window=cfg.avg_window, drop_stale=cfg.drop_stale)
    acc = accumulation_of(hist, None, cfg)
    rolls = detect_rolls(hist, config=cfg)
    spot = _last_spot(last)
    # the last session of every underlying: ``last`` when it holds each underlying's latest
    # rows (analyze_oi_many: every history has rows of the session), else the history
    term = term_structure(hist if last_of is None else last_of)
    wc = window_changes(hist, window=cfg.roll_window, drop_stale=cfg.drop_stale).to_arrow()
    from chainlens.oi._panel import cached_panel

    stale = cached_panel(hist, as_of=None, drop_stale=cfg.drop_stale).stale
    return ch, acc, rolls, spot, term, wc, stale


def _last_spot(last: pa.Table) -> pa.Table | None:
    """``underlying, spot``: the last non-null spot of each underlying among ``last``'s rows
    (None without a spot column or rows)."""
    if "spot" not in last.column_names or not last.num_rows:
        return None
    import polars as pl

    sp = pl.from_arrow(last.select(["underlying", "spot"]))
    assert isinstance(sp, pl.DataFrame)
    return sp.group_by("underlying").agg(pl.col("spot").drop_nulls().last()).to_arrow()


def analyze_oi(
    history: pa.Table,
    session: dt.date,
    *,
    events: pa.Table | None = None,
    premium: pa.Table | None = None,
    config: OIConfig | None = None,
) -> OIResult:
    """OI analytics as of ``session`` over the snapshots on or before it.

    Parameters
    ----------
    history
        Canonical chain snapshots of one or many underlyings over several sessions.
    session
        As-of session; later snapshots are ignored.
    events
        Optional events calendar (:data:`chainlens.schema.EVENTS`).
    premium
        Optional per-underlying ``call_premium_usd``/``put_premium_usd`` for the premium PCR
        (e.g. ``FlowResult.by_ticker``).
    config
        :class:`OIConfig`.

    Returns
    -------
    OIResult
    """
    cfg = config or OIConfig()
    hist = history.filter(
        pc.less_equal(history.column("trade_date"), pa.scalar(session, pa.date32()))
    )
    last = hist.filter(pc.equal(hist.column("trade_date"), pa.scalar(session, pa.date32())))
    ch, acc, rolls, spot, term, wc, stale = _history_core(hist, last, cfg)
    sig = term_signals(term, oi_growth=wc, leaps_min_days=cfg.leaps_min_days)
    ev = event_oi_build(ch, events) if events is not None and events.num_rows else None
    kinds = pc.value_counts(rolls.column("kind")).to_pylist() if rolls.num_rows else []
    summary = {
        "session": session,
        "underlyings": len(pc.unique(hist.column("underlying"))) if hist.num_rows else 0,
        "contracts": last.num_rows,
        "accumulating_contracts": acc.num_rows,
        "rolls": {str(k["values"]): int(k["counts"]) for k in kinds},
        "stale_sessions": [{"underlying": u, "session": d} for u, d in stale],
    }
    return OIResult(
        session=session,
        changes=ch,
        accumulation=acc,
        rolls=rolls,
        clusters=oi_clusters(hist, top_n=cfg.clusters_top_n),
        opposite=opposite_buildup(acc, spot),
        term=term,
        term_signals=sig,
        pcr=put_call_ratios(last if last.num_rows else hist, premium=premium),
        events=ev,
        summary=summary,
        settings=asdict(cfg),
    )


def _codes(t: pa.Table, col: str, names: list[str]) -> pa.Array:
    """Position of each row's ``col`` value in ``names`` (null where absent)."""
    return pc.index_in(t.column(col), value_set=pa.array(names, pa.string()))


def _split_rows(t: pa.Table, col: str, names: list[str]) -> list[pa.Table]:
    """``t`` filtered on ``col == names[i]`` for every ``i``, each in ``t``'s row order.

    One stable sort of the row positions by name index and one ``take`` (none when the rows
    are grouped in ``names`` order already), then zero-copy slices: the same rows, in the same
    order, as ``t.filter(pc.equal(t[col], names[i]))``.
    """
    if t.num_rows == 0:
        return [t] * len(names)
    code = _codes(t, col, names)
    c = np.asarray(pc.fill_null(code, -1).to_numpy(zero_copy_only=False), np.int64)
    return _split_codes(t, c, len(names))


def _split_codes(t: pa.Table, c: np.ndarray, n: int) -> list[pa.Table]:
    """:func:`_split_rows` given the name index of every row (``c``; -1: none of them)."""
    if t.num_rows == 0:
        return [t] * n
    if bool((c[1:] >= c[:-1]).all()):
        srt = c
    else:
        order = np.argsort(c, kind="stable")
        t, srt = t.take(pa.array(order)), c[order]
    bounds = np.searchsorted(srt, np.arange(n + 1))
    return [t.slice(int(bounds[i]), int(bounds[i + 1] - bounds[i])) for i in range(n)]


def _running(mask: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The bounds of each segment ``bounds[i]:bounds[i + 1]`` of rows among the rows where
    ``mask`` holds: the running count of ``mask`` at ``bounds``."""
    cum = np.concatenate([[0], np.cumsum(np.asarray(mask, bool), dtype=np.int64)])
    out: np.ndarray = cum[bounds]
    return out


def _last_of(last: pa.Table, bounds: np.ndarray, i: int) -> pa.Table:
    """History ``i``'s rows of ``last`` (grouped by history at ``bounds``)."""
    return last.slice(int(bounds[i]), int(bounds[i + 1] - bounds[i]))


def _slices(t: pa.Table, bounds: np.ndarray) -> list[pa.Table]:
    """``t[bounds[i]:bounds[i + 1]]`` for every ``i`` (zero-copy slices)."""
    b = bounds.tolist()
    return [t.slice(b[i], b[i + 1] - b[i]) for i in range(len(b) - 1)]


def _unique_within(t: pa.Table, keys: list[str], names: list[str]) -> np.ndarray:
    """Per name of ``names`` (the ``underlying`` values): whether ``keys`` are unique among
    its rows of ``t`` (False: a tie whose order a per-underlying call would set)."""
    ok = np.ones(len(names), bool)
    if t.num_rows == 0:
        return ok
    import polars as pl

    df = pl.from_arrow(t.select(keys))
    assert isinstance(df, pl.DataFrame)
    dup = df.filter(df.is_duplicated())["underlying"].unique().to_list()
    pos = {u: i for i, u in enumerate(names)}
    for u in dup:  # a loop over the few underlyings with a tie
        if u in pos:
            ok[pos[u]] = False
    return ok


#: The history columns that :func:`analyze_oi` reads (the others ride along unused).
_OI_COLUMNS = frozenset(
    (*CONTRACT_KEYS, "trade_date", "open_interest", "volume", "spot", "bid", "ask", "last",
     "multiplier")
)  # fmt: skip


#: The quote columns only the chain premium estimate of :func:`put_call_ratios` reads (left out
#: of the chunk when every history has its own premium row).
_QUOTE_COLUMNS = frozenset(("bid", "ask", "last"))

#: The columns of the session's rows that the term structure, clusters, put/call ratios and
#: last spot read.
_LAST_COLUMNS = frozenset(
    ("underlying", "trade_date", "expiry", "strike", "right", "open_interest", "volume",
     "spot", "multiplier", *_QUOTE_COLUMNS)
)  # fmt: skip


def _checked_concat(
    histories: Sequence[pa.Table], d32: pa.Scalar, *, quotes: bool = True
) -> tuple[pa.Table, np.ndarray, list[str], tuple[Any, Any]]:
    """The rows on or before the session of every history, concatenated (one filter), the
    bounds of each history's rows in it (``bounds[i]:bounds[i + 1]``), each history's
    underlying, and the :func:`~chainlens.oi._encode.encode_strings` of its ``symbol`` and
    ``underlying`` columns (None where the Arrow fallback ran; the OI panel reuses them);
    raises the :class:`InputError` of :func:`analyze_oi_many` on bad input.

    The checks run on the whole chunk: dense codes of the ``underlying`` and ``symbol``
    columns (:func:`chainlens.oi._encode.encode_strings`), then a history holds one underlying
    when the segment minimum and maximum of its codes agree (``np.minimum.reduceat``), and no
    symbol is shared when every row of a symbol belongs to the history of its first row.
    Without ``quotes``, the :data:`_QUOTE_COLUMNS` are left out.
    """
    from chainlens.oi._encode import arrow_codes, encode_strings

    n = len(histories)
    full = pa.concat_tables(histories)
    # the columns the OI kernels read, in one chunk: every later pass (encodings, panel
    # scatter, group-bys, gathers) then runs once over the chunk instead of once per
    # session file of every history
    cols = _OI_COLUMNS if quotes else _OI_COLUMNS - _QUOTE_COLUMNS
    full = full.select([c for c in full.column_names if c in cols]).combine_chunks()
    keep = pc.fill_null(pc.less_equal(full.column("trade_date"), d32), False)
    keep_np = np.asarray(keep.to_numpy(zero_copy_only=False), bool)
    hist = full if keep_np.all() else full.filter(keep)  # windows usually end at the session
    lens = np.fromiter((h.num_rows for h in histories), np.int64, n)
    hid = np.repeat(np.arange(n, dtype=np.int64), lens)[keep_np]
    cnt = np.bincount(hid, minlength=n)
    bounds = np.concatenate([[0], np.cumsum(cnt)]).astype(np.int64)
    ucol = hist.column("underlying")
    if (cnt == 0).any() or ucol.null_count:
        raise InputError("each history must hold one underlying", column="underlying")

    encs: list[Any] = []

    def codes_of(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, pa.Array]:
        enc = encode_strings(col)
        encs.append(enc)
        if enc is not None:
            return enc
        c, dictionary = arrow_codes(col)
        first = np.unique(c, return_index=True)[1] if len(c) else np.zeros(0, np.int64)
        return c, first, dictionary

    uc, _, udict = codes_of(ucol)
    starts = bounds[:-1]
    if (np.minimum.reduceat(uc, starts) != np.maximum.reduceat(uc, starts)).any():
        raise InputError("each history must hold one underlying", column="underlying")
    names = [str(x) for x in udict.take(pa.array(uc[starts])).to_pylist()]
    if len(set(names)) != n:
        raise InputError("the histories' underlyings must be distinct", column="underlying")
    if hist.column("symbol").null_count:
        raise InputError("null symbols", column="symbol")
    for col in ("open_interest", "volume"):  # integer sums are exact in any order
        if col in hist.column_names and not pa.types.is_integer(hist.schema.field(col).type):
            raise InputError(f"{col} must be an integer column", column=col)
    sc, sfirst, _ = codes_of(hist.column("symbol"))
    if (hid[sfirst[sc]] != hid).any():
        raise InputError("a symbol appears in two histories", column="symbol")
    return hist, bounds, names, (encs[1], encs[0])


def _string_codes(col: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dense codes (first-appearance order) and dictionary of a string column without nulls
    (:func:`chainlens.oi._encode.encode_strings`, else Arrow's dictionary encoding)."""
    from chainlens.oi._encode import arrow_codes, encode_strings

    enc = encode_strings(col)
    if enc is not None:
        return enc[0].astype(np.int64), enc[2]
    c, dictionary = arrow_codes(col)
    return np.asarray(c, np.int64), dictionary


def _event_changes(ch: pa.Table) -> pa.Table:
    """The non-null ``oi_change`` of ``ch`` (``underlying, expiry, right, trade_date, si,
    oi_change``) summed per (underlying, expiry, right, trade_date, si): the first step of
    :func:`event_oi_build` (which sums these groups again, one row each), done as one
    ``np.bincount`` over dense integer keys, so that the build's Polars frame holds a few rows
    per expiry instead of one per contract.

    The sums add integers (contracts) in float64 below 2**53 in absolute total, so they are
    exact in any order. ``ch`` itself is returned when the keys have nulls, the changes are
    not integers, or the total is too large to be exact.
    """
    need = ("underlying", "expiry", "right", "trade_date", "si")
    chg_c = ch.column("oi_change")
    if (
        ch.num_rows == 0
        or any(ch.column(c).null_count for c in need)
        or not pa.types.is_integer(chg_c.type)
        or not all(pa.types.is_date32(ch.schema.field(c).type) for c in ("expiry", "trade_date"))
        or not all(_is_string(ch.schema.field(c).type) for c in ("underlying", "right"))
    ):
        return ch
    valid = np.asarray(pc.is_valid(chg_c).to_numpy(zero_copy_only=False), bool)
    chg = np.asarray(pc.fill_null(chg_c, 0).to_numpy(zero_copy_only=False), np.int64)[valid]
    if len(chg) == 0 or float(np.abs(chg.astype(np.float64)).sum()) >= 2.0**53:
        return ch
    u, udict = _string_codes(ch.column("underlying"))
    r, rdict = _string_codes(ch.column("right"))
    e = np.asarray(ch.column("expiry").cast(pa.int32()).to_numpy(), np.int64)
    td = np.asarray(ch.column("trade_date").cast(pa.int32()).to_numpy(), np.int64)
    si = np.asarray(ch.column("si").to_numpy(), np.int64)
    u, r, e, td, si = u[valid], r[valid], e[valid], td[valid], si[valid]
    e0 = int(e.min())
    n_r, n_e = len(rdict), int(e.max()) - e0 + 1
    n_s = int(si.max()) + 1 if si.min() >= 0 else 0
    size = len(udict) * n_r * n_e * n_s
    if n_s == 0 or size > 1 << 24:
        return ch
    key = ((u * n_r + r) * n_e + (e - e0)) * n_s + si
    cnt = np.bincount(key, minlength=size)
    tot = np.bincount(key, weights=chg.astype(np.float64), minlength=size)
    g = np.flatnonzero(cnt)
    day = np.zeros(size, np.int64)
    day[key] = td  # one session per (underlying, session index)
    g_s, rest = g % n_s, g // n_s
    g_e, rest = rest % n_e + e0, rest // n_e
    g_r, g_u = rest % n_r, rest // n_r
    return pa.table(
        {
            "underlying": udict.take(pa.array(g_u)),
            "expiry": pa.array(g_e.astype(np.int32)).cast(pa.date32()),
            "right": rdict.take(pa.array(g_r)),
            "trade_date": pa.array(day[g].astype(np.int32)).cast(pa.date32()),
            "si": pa.array(g_s).cast(ch.schema.field("si").type),
            "oi_change": pa.array(tot[g].astype(np.int64)).cast(chg_c.type),
        }
    )


def _is_string(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _events_many(
    ch: pa.Table, evs: Sequence[pa.Table | None], names: list[str]
) -> list[pa.Table | None]:
    """:func:`event_oi_build` of every underlying with events (None for the others).

    One call over the chunk when every events table has the same columns and the same
    market-wide (``ticker == "*"``) rows: those rows once, plus each table's rows of its own
    underlying (rows of other tickers join nothing in the per-underlying call). The result
    is grouped by (underlying, date, kind) and sorted on those keys, so each underlying's
    slice is its own call's table. Otherwise one call per underlying.
    """
    n = len(names)
    out: list[pa.Table | None] = [None] * n
    idx = [i for i in range(n) if evs[i] is not None and evs[i].num_rows]  # type: ignore[union-attr]
    if not idx:
        return out
    tabs = [evs[i].select(["date", "ticker", "kind"]) for i in idx]  # type: ignore[union-attr]
    sub = [names[i] for i in idx]
    batched = all(t.schema.equals(tabs[0].schema) for t in tabs[1:])
    if batched:
        all_ev = pa.concat_tables(tabs)
        lens = np.fromiter((t.num_rows for t in tabs), np.int64, len(tabs))
        tick = all_ev.column("ticker")
        star_m = pc.fill_null(pc.equal(tick, pa.scalar("*", tick.type)), False)
        star_np = np.asarray(star_m.to_numpy(zero_copy_only=False), np.int64)
        n_star = np.add.reduceat(star_np, np.concatenate([[0], np.cumsum(lens)[:-1]]))
        star = all_ev.filter(star_m)
        s0 = star.slice(0, int(n_star[0]))
        batched = bool((n_star == n_star[0]).all()) and pa.concat_tables([s0] * len(tabs)).equals(
            star
        )
    if batched:
        own_name = pa.array(np.repeat(np.array(sub, object), lens), pa.string()).cast(tick.type)
        own = all_ev.filter(pc.fill_null(pc.equal(tick, own_name), False))
        ch_ev = ch.select(["underlying", "expiry", "right", "trade_date", "si", "oi_change"])
        if len(sub) < len(names):
            ch_ev = ch_ev.filter(pc.is_in(ch_ev.column("underlying"), value_set=pa.array(sub)))
        got = event_oi_build(_event_changes(ch_ev), pa.concat_tables([own, s0]))
        for i, part in zip(idx, _split_rows(got, "underlying", sub), strict=True):
            out[i] = part
        return out
    chs = _split_rows(ch, "underlying", sub)
    for k, i in enumerate(idx):  # a loop over underlyings (events tables that differ)
        out[i] = event_oi_build(chs[k], evs[i])
    return out


def _leaps_growth_of(
    hist: pa.Table,
    panel: Any,
    bounds: np.ndarray,
    names: list[str],
    is_call: np.ndarray,
    cfg: OIConfig,
) -> pa.Table | None:
    """:func:`chainlens.oi._many.leaps_growth_many` on the panel's roll legs (the contracts
    alive at each underlying's last session, as :func:`window_changes` lists them)."""
    from chainlens.oi._rolls import _legs

    lg = _legs(panel, cfg.roll_window)
    exp = hist.column("expiry")
    exp = _one_chunk(exp)
    if exp.null_count or not pa.types.is_date32(exp.type):
        return None
    rows = np.asarray(lg.rows, np.int64)
    day = np.asarray(exp.cast(pa.int32()).to_numpy(), np.int64)[rows]
    hid = np.repeat(np.arange(len(names), dtype=np.int64), np.diff(bounds))[rows]
    return _many.leaps_growth_many(day, is_call[rows], lg.end_day, lg.oi_start, lg.oi_end, hid,
                                   names, cfg.leaps_min_days)  # fmt: skip


def _roll_kinds(rolls: pa.Table, names: list[str]) -> list[dict[str, int]]:
    """Per name: ``{kind: count}`` of its rolls, kinds in order of first appearance (as
    ``pc.value_counts`` of its own rows); one ``np.unique`` of (underlying, kind) codes over
    the chunk, then a loop over those (few) pairs."""
    out: list[dict[str, int]] = [{} for _ in names]
    if rolls.num_rows == 0:
        return out
    kind = _one_chunk(rolls.column("kind"))
    if kind.null_count:
        raise InputError("null roll kinds", column="kind")
    u = np.asarray(pc.fill_null(_codes(rolls, "underlying", names), -1).to_numpy(
        zero_copy_only=False), np.int64)  # fmt: skip
    k, kdict = _string_codes(kind)
    key = u * (len(kdict) + 1) + k
    uniq, first, cnt = np.unique(key, return_index=True, return_counts=True)
    kinds = [str(x) for x in kdict.to_pylist()]
    for g in np.argsort(first, kind="stable").tolist():  # (underlying, kind) pairs
        ui, ki = divmod(int(uniq[g]), len(kdict) + 1)
        if u[first[g]] >= 0:
            out[ui][kinds[ki]] = int(cnt[g])
    return out


def analyze_oi_many(
    histories: Sequence[pa.Table],
    session: dt.date,
    *,
    events: Sequence[pa.Table | None] | None = None,
    premiums: Sequence[pa.Table | None] | None = None,
    config: OIConfig | None = None,
) -> list[OIResult]:
    """:func:`analyze_oi` of several underlyings at once: one result per history, each equal
    (every table, ``summary`` and ``settings``) to ``analyze_oi(histories[i], session,
    events=events[i], premium=premiums[i], config=config)``.

    Parameters
    ----------
    histories
        Chain snapshots of one underlying each (distinct underlyings, no symbol shared
        between two histories).
    session
        As-of session; later snapshots are ignored.
    events, premiums
        Per history, as the ``events`` and ``premium`` arguments of :func:`analyze_oi`.
    config
        :class:`OIConfig`.

    Returns
    -------
    list of OIResult

    Raises
    ------
    InputError
        When a history holds no row of ``session``, several underlyings, or an underlying or
        symbol of another history (the caller then runs :func:`analyze_oi` per history).

    Notes
    -----
    The OI kernels work per underlying on a panel of many (session index within the
    underlying, per-underlying groups, sorts with the underlying or a unique key first), so
    the changes, streaks, rolls, term structure, term signals, window changes, opposite
    buildup, event builds and put/call ratios of the concatenated histories, split by
    ``underlying`` in row order, are the per-underlying tables. Their group sums add integers
    (OI, volume, OI changes; integer columns are required), exact in any order; the float sums
    of :func:`term_signals` (class shares: OI shares per expiry class) agree to rounding
    (1e-12 relative). The input checks, the session filter and the split run once over the
    chunk (segment codes, no per-history compute calls). Computed on each underlying's own
    rows instead:

    * the put/call ratios of an underlying without a premium row (the chain premium estimate
      is a float sum, whose rounding depends on the group-by's partitions);
    * the clusters of an underlying with a tie (equal OI among its top strikes): the tie
      order follows a hash group-by, so it depends on which other underlyings share the
      frame. The batch is checked for ties;
    * the event builds when the events tables differ in columns or market-wide rows.
    """
    cfg = config or OIConfig()
    n = len(histories)
    evs = list(events) if events is not None else [None] * n
    prs = list(premiums) if premiums is not None else [None] * n
    if len(evs) != n or len(prs) != n:
        raise InputError("one events and one premium entry per history", column="histories")
    if n == 0:
        return []
    d32 = pa.scalar(session, pa.date32())
    # every history with its own premium row (checked on the names below): the ratios do not
    # estimate premiums, the quote columns are not read
    quotes = not all(p is not None and p.num_rows == 1 for p in prs)
    hist, bounds, names, codes = _checked_concat(histories, d32, quotes=quotes)
    idx = [
        i
        for i, p in enumerate(prs)
        if p is not None and p.num_rows == 1 and p.column("underlying").to_pylist() == [names[i]]
    ]
    if not quotes and len(idx) < n:
        hist, bounds, names, codes = _checked_concat(histories, d32, quotes=True)
    from chainlens.oi._panel import cached_panel

    # the panel of the chunk, on the contract and underlying codes of the checks (the OI
    # kernels below find it in the panel cache)
    panel = cached_panel(hist, as_of=None, drop_stale=cfg.drop_stale, codes=codes)
    on_d = pc.fill_null(pc.equal(hist.column("trade_date"), d32), False)
    on_np = np.asarray(on_d.to_numpy(zero_copy_only=False), bool)
    last = hist.select([c for c in hist.column_names if c in _LAST_COLUMNS]).filter(on_d)
    # the chunk's rows are grouped by history, in order (one underlying each): a table of
    # some of its rows, in row order, splits at the running count of those rows
    lb = _running(on_np, bounds)
    n_last = np.diff(lb)
    if (n_last == 0).any():
        raise InputError(f"a history holds no snapshot of {session}", column="history")

    # every history has rows of the session and none later: ``last`` holds each underlying's
    # latest session, the only rows the term structure and the clusters read
    ch = oi_changes(hist, avg_window=cfg.avg_window, drop_stale=cfg.drop_stale)
    acc = accumulation_of(hist, None, cfg)
    rolls = detect_rolls(hist, config=cfg)
    # the last spot of each history, in history order (None: no spot column; the Polars
    # group-by, in hash order, when the column is not float64)
    spot = _many.last_spot(last, lb, names) if "spot" in last.column_names else None
    spot_ordered = spot is not None or "spot" not in last.column_names
    if not spot_ordered:
        spot = _last_spot(last)
    stale = panel.stale
    acc_h = np.asarray(pc.fill_null(_codes(acc, "underlying", names), -1).to_numpy(
        zero_copy_only=False), np.int64)  # fmt: skip
    opp = (
        None
        if (acc_h < 0).any() or not spot_ordered
        else _many.opposite_many(acc, acc_h, spot, names, _OPPOSITE_MIN_SHARE)
    )
    if opp is None:
        opposite = opposite_buildup(acc, spot)
        opps = _split_rows(opposite, "underlying", names)
    else:
        opps = _slices(*opp)
    call_h, put_h = _many.call_put_masks(hist)
    masks = (call_h[on_np], put_h[on_np])
    tm = _many.term_many(last, lb, names, session, masks)
    if tm is None:
        term = term_structure(last)
        terms = _split_rows(term, "underlying", names)
    else:
        term, tb = tm
        terms = _slices(term, tb)
    # the LEAPS growth of the term signals, from the roll legs (no window-changes table)
    growth = _leaps_growth_of(hist, panel, bounds, names, call_h, cfg)
    if growth is None:
        wc = window_changes(hist, window=cfg.roll_window, drop_stale=cfg.drop_stale).to_arrow()
        sig = term_signals(term, oi_growth=wc, leaps_min_days=cfg.leaps_min_days)
    else:
        sig = term_signals(term, leaps_min_days=cfg.leaps_min_days, leaps_growth=growth)
    # clusters: one extra rank to see a tie at the top_n boundary
    top = cfg.clusters_top_n
    cm = _many.clusters_many(last, lb, names, top, masks)
    if cm is None:
        cl = oi_clusters(last, top_n=top + 1)
        cl_ok = _unique_within(cl.select(["underlying", "oi"]), ["underlying", "oi"], names)
        cl = cl.filter(pc.less_equal(cl.column("rank"), top))
        cls_ = _split_rows(cl, "underlying", names)
    else:
        cl, cb, cl_ok = cm
        cls_ = _slices(cl, cb)
    # put/call ratios: one call over the underlyings with their own premium row (integer
    # sums then: volume and OI); the chain premium estimate (a float sum whose rounding depends
    # on the group-by's partitions) is computed per underlying
    pcr_parts: list[pa.Table | None] = [None] * n
    got_pcr = None
    if len(idx) == n:
        got_pcr = _many.pcr_many(last, lb, names, session, prs, masks)
        if got_pcr is not None:
            pcr_parts = _slices(got_pcr, np.arange(n + 1))
    if idx and got_pcr is None:
        # every history: ``last`` is the concatenation of ``lasts`` (in one chunk)
        got = put_call_ratios(
            last if len(idx) == n else pa.concat_tables([_last_of(last, lb, i) for i in idx]),
            premium=pa.concat_tables([prs[i] for i in idx]),
        )
        sub = [names[i] for i in idx]
        for i, part in zip(idx, _split_rows(got, "underlying", sub), strict=True):
            pcr_parts[i] = part
    # the changes: the panel's retained rows, in row order (oi_changes)
    ch_b = _running(panel.keep, bounds)
    keep = panel.keep if not panel.keep.all() else slice(None)
    ev_got = _many.events_many(ch, ch_b, (call_h[keep], put_h[keep]), evs, names)
    ev_parts = ev_got if ev_got is not None else _events_many(ch, evs, names)
    kinds = _roll_kinds(rolls, names)
    stale_of: dict[str, list[dict[str, Any]]] = {}
    for s, d in stale:  # a loop over the (few) stale sessions
        stale_of.setdefault(s, []).append({"underlying": s, "session": d})

    chs = _slices(ch, ch_b)
    accs = _split_codes(acc, acc_h, n)
    rls = _split_rows(rolls, "underlying", names)
    sigs = _split_rows(sig, "underlying", names)
    settings = asdict(cfg)
    out = []
    for i, u in enumerate(names):  # a loop over underlyings: slices into the results
        pcr = pcr_parts[i]
        summary = {
            "session": session,
            "underlyings": 1,
            "contracts": int(n_last[i]),
            "accumulating_contracts": accs[i].num_rows,
            "rolls": kinds[i],
            "stale_sessions": stale_of.get(u, []),
        }
        if cl_ok[i]:
            clusters = cls_[i]
        else:  # a tie at the top_n boundary: the underlying's own rows decide
            h_i = hist.slice(int(bounds[i]), int(bounds[i + 1] - bounds[i]))
            clusters = oi_clusters(h_i, top_n=top)
        out.append(
            OIResult(
                session=session,
                changes=chs[i],
                accumulation=accs[i],
                rolls=rls[i],
                clusters=clusters,
                opposite=opps[i],
                term=terms[i],
                term_signals=sigs[i],
                pcr=pcr
                if pcr is not None
                else put_call_ratios(_last_of(last, lb, i), premium=prs[i]),
                events=ev_parts[i],
                summary=summary,
                settings=settings,
            )
        )
    return out
