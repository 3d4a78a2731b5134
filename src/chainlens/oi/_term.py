"""OI term structure (seed 002 "OI term structure: reading the expiration landscape across
months") and event-driven OI build (seed 002 "OI changes around earnings and high-impact
events")."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa

from chainlens.flow._prints import expiry_class_array

__all__ = ["event_oi_build", "term_structure", "term_signals"]


def term_structure(chain: pa.Table, *, session: dt.date | None = None) -> pa.Table:
    """OI by expiry: share of the underlying's OI, call/put split, class and days to expiry.

    Returns
    -------
    pyarrow.Table
        ``underlying, expiry, expiry_class, dte_days, call_oi, put_oi, oi, oi_share,
        call_share`` for the last (or given) session.
    """
    df = pl.from_arrow(
        chain.select(["underlying", "trade_date", "expiry", "right", "open_interest"])
    )
    assert isinstance(df, pl.DataFrame)
    if session is None:
        df = df.filter(pl.col("trade_date") == pl.col("trade_date").max().over("underlying"))
    else:
        df = df.filter(pl.col("trade_date") == session)
    oi = pl.col("open_interest").cast(pl.Float64)
    out = (
        df.group_by(["underlying", "trade_date", "expiry"])
        .agg(
            pl.when(pl.col("right") == "C").then(oi).otherwise(0.0).sum().alias("call_oi"),
            pl.when(pl.col("right") == "P").then(oi).otherwise(0.0).sum().alias("put_oi"),
        )
        .with_columns((pl.col("call_oi") + pl.col("put_oi")).alias("oi"))
    )
    out = out.with_columns(
        (pl.col("oi") / pl.col("oi").sum().over("underlying")).alias("oi_share"),
        pl.when(pl.col("oi") > 0).then(pl.col("call_oi") / pl.col("oi")).alias("call_share"),
        (pl.col("expiry") - pl.col("trade_date")).dt.total_days().alias("dte_days"),
    ).sort(["underlying", "expiry"])
    t = out.to_arrow()
    cls = expiry_class_array(t.column("expiry"), t.column("trade_date"))
    return t.append_column("expiry_class", cls)


def term_signals(
    term: pa.Table,
    *,
    oi_growth: pa.Table | None = None,
    weekly_concentration: float = 2.0,
    near_max_share: float = 0.10,
    far_min_share: float = 0.30,
    far_dte: tuple[int, int] = (60, 150),
    leaps_min_days: int = 365,
    leaps_min_growth: float = 0.10,
    leaps_growth: pa.Table | None = None,
) -> pa.Table:
    """Term-structure patterns per underlying (seed 002 table "OI term structure pattern").

    * ``weekly_concentration``: weekly expiries whose OI exceeds ``weekly_concentration`` times
      the median OI of the underlying's expiries (positioning around a dated event); listed.
    * ``skipped_near_term``: the two nearest expiries hold less than ``near_max_share`` of OI
      each while one expiry at ``far_dte`` days holds at least ``far_min_share``.
    * ``leaps_building``: LEAPS (>= ``leaps_min_days``) call OI grew by at least
      ``leaps_min_growth`` (relative) over ``oi_growth`` (``symbol``-free table of
      ``underlying, expiry, right, oi_start, oi_end``, e.g. from :func:`window_changes`).
    * ``class_share``: OI share by expiry class.

    ``leaps_growth``: the per-underlying ``underlying, leaps_call_growth`` already computed
    from the same legs (:func:`chainlens.oi._many.leaps_growth_many`); used instead of
    ``oi_growth`` when given.

    Returns
    -------
    pyarrow.Table
        ``underlying, class_share (map), weekly_concentration_expiries (list[date]),
        skipped_near_term (bool), far_expiry, leaps_call_growth, leaps_building (bool)``.
    """
    growth: pl.DataFrame | None = None
    if leaps_growth is not None:
        lg = pl.from_arrow(leaps_growth.select(["underlying", "leaps_call_growth"]))
        assert isinstance(lg, pl.DataFrame)
        growth = lg
    elif oi_growth is not None and oi_growth.num_rows:
        growth = _leaps_growth(oi_growth, leaps_min_days)
    return _signals(
        term, growth, weekly_concentration=weekly_concentration, near_max_share=near_max_share,
        far_min_share=far_min_share, far_dte=far_dte, leaps_min_growth=leaps_min_growth,
    )  # fmt: skip


def _leaps_growth(oi_growth: pa.Table, leaps_min_days: int) -> pl.DataFrame:
    """``underlying, leaps_call_growth`` of :func:`term_signals`: per underlying with a call
    expiring ``leaps_min_days`` or more days after ``end_session``, :math:`\\sum OI_{end} /
    \\sum OI_{start} - 1` over those calls (null unless the start sum is > 0)."""
    g = pl.from_arrow(
        oi_growth.select(["underlying", "expiry", "right", "oi_start", "oi_end", "end_session"])
    )
    assert isinstance(g, pl.DataFrame)
    g = (
        g.filter(
            (pl.col("right") == "C")
            & ((pl.col("expiry") - pl.col("end_session")).dt.total_days() >= leaps_min_days)
        )
        .group_by("underlying")
        .agg(pl.col("oi_start").sum(), pl.col("oi_end").sum())
    )
    return g.with_columns(
        pl.when(pl.col("oi_start") > 0).then(pl.col("oi_end") / pl.col("oi_start") - 1.0)
        .alias("leaps_call_growth")
    ).select("underlying", "leaps_call_growth")  # fmt: skip


def _signals(
    term: pa.Table,
    growth: pl.DataFrame | None,
    *,
    weekly_concentration: float,
    near_max_share: float,
    far_min_share: float,
    far_dte: tuple[int, int],
    leaps_min_growth: float,
) -> pa.Table:
    """:func:`term_signals` given the LEAPS growth per underlying (``underlying,
    leaps_call_growth``, :func:`_leaps_growth`; None: no growth input, all null)."""
    df = pl.from_arrow(term)
    assert isinstance(df, pl.DataFrame)
    df = df.sort(["underlying", "expiry"]).with_columns(
        pl.int_range(pl.len()).over("underlying").alias("_i"),
        pl.col("oi").median().over("underlying").alias("_med"),
    )
    # sorted before the list is built: the map's entries in a fixed (key) order, never the
    # order of a hash grouping
    cls = (
        df.group_by(["underlying", "expiry_class"])
        .agg(pl.col("oi_share").sum())
        .sort(["underlying", "expiry_class"])
    )
    cls = cls.group_by("underlying", maintain_order=True).agg(
        pl.struct(pl.col("expiry_class").alias("key"), pl.col("oi_share").alias("value")).alias(
            "class_share"
        )
    )
    weekly = (
        df.filter(
            (pl.col("expiry_class").is_in(["weekly", "0dte"]))
            & (pl.col("oi") > weekly_concentration * pl.col("_med"))
        )
        .group_by("underlying")
        .agg(pl.col("expiry").alias("weekly_concentration_expiries"))
    )
    near = (
        df.filter(pl.col("_i") < 2)
        .group_by("underlying")
        .agg((pl.col("oi_share") < near_max_share).all().alias("_near_small"))
    )
    far = (
        df.filter(pl.col("dte_days").is_between(far_dte[0], far_dte[1]) & (pl.col("oi_share") >= far_min_share))
        .sort(["oi_share", "expiry"], descending=[True, False])  # ties: the nearer expiry
        .group_by("underlying", maintain_order=True).agg(pl.col("expiry").first().alias("far_expiry"))
    )  # fmt: skip
    out = (
        df.select("underlying").unique()
        .join(cls, on="underlying", how="left")
        .join(weekly, on="underlying", how="left")
        .join(near, on="underlying", how="left")
        .join(far, on="underlying", how="left")
        .with_columns(
            (pl.col("_near_small").fill_null(False) & pl.col("far_expiry").is_not_null()).alias("skipped_near_term")
        ).drop("_near_small")
    )  # fmt: skip
    if growth is not None:
        out = out.join(growth, on="underlying", how="left")
    else:
        out = out.with_columns(pl.lit(None, dtype=pl.Float64).alias("leaps_call_growth"))
    out = out.with_columns(
        (pl.col("leaps_call_growth") >= leaps_min_growth).fill_null(False).alias("leaps_building")
    )
    return out.sort("underlying").to_arrow()


def event_oi_build(changes: pa.Table, events: pa.Table, *, lookback: int = 15) -> pa.Table:
    """OI build ahead of events against a baseline (seed 002 event table).

    For each event (``date``, ``ticker`` or ``*``, ``kind``) and underlying it applies to, the
    *target expiry* is the first expiry on or after the event date. ``build`` is the target
    expiry's summed OI change over the last ``lookback`` sessions before the event (changes
    attributed to sessions before the event date); ``baseline`` is the mean, over the other
    expiries of the underlying, of the same sum; ``build_ratio = build / baseline``. Call and
    put builds are reported separately (their ratio is the directional lean).

    Returns
    -------
    pyarrow.Table
        ``underlying, date, kind, target_expiry, call_build, put_build, build, baseline,
        build_ratio, call_put_build_ratio``.
    """
    ch = pl.from_arrow(
        changes.select(["underlying", "expiry", "right", "trade_date", "si", "oi_change"])
    )
    ev = pl.from_arrow(events.select(["date", "ticker", "kind"]))
    assert isinstance(ch, pl.DataFrame) and isinstance(ev, pl.DataFrame)
    unders = ch.select("underlying").unique()
    # the contracts of one (expiry, right) summed per session first: the event join then
    # sees one row per expiry, right and session instead of one per contract (integer sums,
    # exact in any grouping; only the non-null changes count, as below)
    ch = (
        ch.filter(pl.col("oi_change").is_not_null())
        .group_by(["underlying", "expiry", "right", "trade_date", "si"])
        .agg(pl.col("oi_change").sum())
    )
    ev = pl.concat(
        [
            ev.filter(pl.col("ticker") != "*").rename({"ticker": "underlying"}),
            ev.filter(pl.col("ticker") == "*").drop("ticker").join(unders, how="cross").select("date", "underlying", "kind"),
        ],
        how="vertical_relaxed",
    )  # fmt: skip
    x = ch.join(ev, on="underlying", how="inner").filter(
        (pl.col("trade_date") < pl.col("date")) & pl.col("oi_change").is_not_null()
    )
    x = x.with_columns(
        pl.col("si").max().over(["underlying", "date", "kind"]).alias("_last")
    ).filter(pl.col("si") > pl.col("_last") - lookback)
    per_exp = x.group_by(["underlying", "date", "kind", "expiry"]).agg(
        pl.when(pl.col("right") == "C").then(pl.col("oi_change")).otherwise(0).sum().cast(pl.Float64).alias("call_build"),
        pl.when(pl.col("right") == "P").then(pl.col("oi_change")).otherwise(0).sum().cast(pl.Float64).alias("put_build"),
    ).with_columns((pl.col("call_build") + pl.col("put_build")).alias("build"))  # fmt: skip
    target = (
        per_exp.filter(pl.col("expiry") >= pl.col("date")).sort("expiry")
        .group_by(["underlying", "date", "kind"]).agg(pl.all().first())
        .rename({"expiry": "target_expiry"})
    )  # fmt: skip
    base = (
        per_exp.join(target.select("underlying", "date", "kind", "target_expiry"), on=["underlying", "date", "kind"])
        .filter(pl.col("expiry") != pl.col("target_expiry"))
        .group_by(["underlying", "date", "kind"]).agg(pl.col("build").mean().alias("baseline"))
    )  # fmt: skip
    out = target.join(base, on=["underlying", "date", "kind"], how="left").with_columns(
        pl.when(pl.col("baseline").abs() > 0).then(pl.col("build") / pl.col("baseline")).alias("build_ratio"),
        pl.when(pl.col("put_build") > 0).then(pl.col("call_build") / pl.col("put_build")).alias("call_put_build_ratio"),
    )  # fmt: skip
    return out.sort(["underlying", "date", "kind"]).to_arrow()
