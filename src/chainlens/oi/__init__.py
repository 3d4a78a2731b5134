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
from chainlens.oi._bands import PCR_BANDS, VOL_OI_BANDS, band_of
from chainlens.oi._changes import CONTRACT_KEYS, oi_changes
from chainlens.oi._config import OIConfig
from chainlens.oi._pcr import put_call_ratios
from chainlens.oi._positioning import oi_clusters, opposite_buildup
from chainlens.oi._rolls import detect_rolls, window_changes
from chainlens.oi._streaks import accumulation, streaks
from chainlens.oi._term import event_oi_build, term_signals, term_structure

__all__ = [
    "CONTRACT_KEYS",
    "PCR_BANDS",
    "VOL_OI_BANDS",
    "OIConfig",
    "OIResult",
    "accumulation",
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
    hist: pa.Table, last: pa.Table, cfg: OIConfig
) -> tuple[
    pa.Table, pa.Table, pa.Table, pa.Table | None, pa.Table, pa.Table, list[tuple[str, dt.date]]
]:
    """What :func:`analyze_oi` and :func:`analyze_oi_many` compute alike on a history (one or
    many underlyings): changes, accumulation, rolls, the last spot per underlying (from
    ``last``, the as-of session's rows), term structure, window changes, stale sessions."""
    ch = oi_changes(hist, avg_window=cfg.avg_window, drop_stale=cfg.drop_stale)
    acc = accumulation(
        hist,
        min_sessions=cfg.streak_min_sessions,
        min_contracts=cfg.streak_min_contracts,
        min_fraction=cfg.streak_min_fraction,
        min_dte=cfg.streak_min_dte,
        changes=ch,
        drop_stale=cfg.drop_stale,
    )
    rolls = detect_rolls(hist, config=cfg)
    spot = None
    if "spot" in last.column_names and last.num_rows:
        import polars as pl

        sp = pl.from_arrow(last.select(["underlying", "spot"]))
        assert isinstance(sp, pl.DataFrame)
        spot = sp.group_by("underlying").agg(pl.col("spot").drop_nulls().last()).to_arrow()
    term = term_structure(hist)
    wc = window_changes(hist, window=cfg.roll_window, drop_stale=cfg.drop_stale).to_arrow()
    from chainlens.oi._panel import cached_panel

    stale = cached_panel(hist, as_of=None, drop_stale=cfg.drop_stale).stale
    return ch, acc, rolls, spot, term, wc, stale


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
    if bool((c[1:] >= c[:-1]).all()):
        srt = c
    else:
        order = np.argsort(c, kind="stable")
        t, srt = t.take(pa.array(order)), c[order]
    bounds = np.searchsorted(srt, np.arange(len(names) + 1))
    return [t.slice(int(bounds[i]), int(bounds[i + 1] - bounds[i])) for i in range(len(names))]


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
    the changes, streaks, rolls, term structure, window changes, opposite buildup and
    put/call ratios of the concatenated histories, split by ``underlying`` in row order, are
    the per-underlying tables. Their group sums add integers (OI, volume, OI changes; integer
    columns are required), exact in any order. Computed on each underlying's own rows
    instead:

    * the put/call ratios of an underlying without a premium row (the chain premium estimate
      is a float sum, whose rounding depends on the group-by's partitions);
    * :func:`term_signals` (float sums of OI shares, and its class shares are a list in hash
      group order);
    * the clusters and the event rows of an underlying with a tie (equal OI among its top
      strikes, two events on one date): the tie order follows a hash group-by, so it depends
      on which other underlyings share the frame. Both are computed on the batch and checked.
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
    hs = [h.filter(pc.less_equal(h.column("trade_date"), d32)) for h in histories]
    names: list[str] = []
    n_sym = 0
    for h in hs:  # a loop over underlyings
        u = pc.unique(h.column("underlying"))
        if len(u) != 1 or not u[0].is_valid:
            raise InputError("each history must hold one underlying", column="underlying")
        names.append(str(u[0].as_py()))
        n_sym += pc.count_distinct(h.column("symbol")).as_py()
    if len(set(names)) != n:
        raise InputError("the histories' underlyings must be distinct", column="underlying")
    hist = pa.concat_tables(hs)
    if hist.column("symbol").null_count:
        raise InputError("null symbols", column="symbol")
    for col in ("open_interest", "volume"):  # integer sums are exact in any order
        if col in hist.column_names and not pa.types.is_integer(hist.schema.field(col).type):
            raise InputError(f"{col} must be an integer column", column=col)
    if pc.count_distinct(hist.column("symbol")).as_py() != n_sym:
        raise InputError("a symbol appears in two histories", column="symbol")
    last = hist.filter(pc.equal(hist.column("trade_date"), d32))
    lasts = _split_rows(last, "underlying", names)
    if any(x.num_rows == 0 for x in lasts):
        raise InputError(f"a history holds no snapshot of {session}", column="history")

    ch, acc, rolls, spot, term, wc, stale = _history_core(hist, last, cfg)
    opposite = opposite_buildup(acc, spot)
    # clusters: one extra rank to see a tie at the top_n boundary
    top = cfg.clusters_top_n
    cl = oi_clusters(hist, top_n=top + 1)
    cl_ok = _unique_within(cl.select(["underlying", "oi"]), ["underlying", "oi"], names)
    cl = cl.filter(pc.less_equal(cl.column("rank"), top))
    # put/call ratios: one call over the underlyings with their own premium row (integer
    # sums then: volume and OI); the chain premium estimate (a float sum whose rounding depends
    # on the group-by's partitions) is computed per underlying
    pcr_parts: list[pa.Table | None] = [None] * n
    idx = [
        i
        for i, p in enumerate(prs)
        if p is not None and p.num_rows == 1 and p.column("underlying").to_pylist() == [names[i]]
    ]
    if idx:
        got = put_call_ratios(
            pa.concat_tables([lasts[i] for i in idx]),
            premium=pa.concat_tables([prs[i] for i in idx]),
        )
        sub = [names[i] for i in idx]
        for i, part in zip(idx, _split_rows(got, "underlying", sub), strict=True):
            pcr_parts[i] = part
    # events: batched over the underlyings with events when they share the market-wide rows
    ev_parts: list[pa.Table | None] = [None] * n
    ev_idx = [i for i in range(n) if evs[i] is not None and evs[i].num_rows]  # type: ignore[union-attr]
    ev_ok = np.zeros(n, bool)
    if ev_idx:
        ev_tabs = [evs[i] for i in ev_idx]
        star = [e.filter(pc.equal(e.column("ticker"), "*")) for e in ev_tabs]  # type: ignore[union-attr]
        if all(s.equals(star[0]) for s in star[1:]):
            own = [
                e.filter(pc.equal(e.column("ticker"), names[i]))  # type: ignore[union-attr]
                for i, e in zip(ev_idx, ev_tabs, strict=True)
            ]
            sub = [names[i] for i in ev_idx]
            ch_ev = ch.filter(pc.is_in(ch.column("underlying"), value_set=pa.array(sub)))
            got = event_oi_build(ch_ev, pa.concat_tables([*own, star[0]]))
            ok = _unique_within(got.select(["underlying", "date"]), ["underlying", "date"], sub)
            for k, (i, part) in enumerate(
                zip(ev_idx, _split_rows(got, "underlying", sub), strict=True)
            ):
                ev_parts[i], ev_ok[i] = part, bool(ok[k])

    chs = _split_rows(ch, "underlying", names)
    accs = _split_rows(acc, "underlying", names)
    rls = _split_rows(rolls, "underlying", names)
    cls_ = _split_rows(cl, "underlying", names)
    opps = _split_rows(opposite, "underlying", names)
    terms = _split_rows(term, "underlying", names)
    wcs = _split_rows(wc, "underlying", names)
    settings = asdict(cfg)
    out = []
    for i, u in enumerate(names):  # a loop over underlyings
        ev = ev_parts[i]
        if ev_idx and i in ev_idx and not ev_ok[i]:
            ev = event_oi_build(chs[i], evs[i])
        rl, pcr = rls[i], pcr_parts[i]
        kinds = pc.value_counts(rl.column("kind")).to_pylist() if rl.num_rows else []
        summary = {
            "session": session,
            "underlyings": 1,
            "contracts": lasts[i].num_rows,
            "accumulating_contracts": accs[i].num_rows,
            "rolls": {str(k["values"]): int(k["counts"]) for k in kinds},
            "stale_sessions": [{"underlying": s, "session": d} for s, d in stale if s == u],
        }
        out.append(
            OIResult(
                session=session,
                changes=chs[i],
                accumulation=accs[i],
                rolls=rl,
                clusters=cls_[i] if cl_ok[i] else oi_clusters(hs[i], top_n=top),
                opposite=opps[i],
                term=terms[i],
                term_signals=term_signals(
                    terms[i], oi_growth=wcs[i], leaps_min_days=cfg.leaps_min_days
                ),
                pcr=pcr if pcr is not None else put_call_ratios(lasts[i], premium=prs[i]),
                events=ev,
                summary=summary,
                settings=settings,
            )
        )
    return out
