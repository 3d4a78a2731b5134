"""The compiled/fast OI paths against slow references: verbatim copies of the previous
implementation (dense panel build, changes, trailing mean, streak recurrence, per-underlying
turnover quantile via Polars, Vol/OI band lookup), compared on random histories with duplicate
snapshots, missing contracts, null volumes, stale repeats, several underlyings and ``as_of``.
Results must be identical (tables equal, arrays equal with NaN in the same places)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens import _engine, oi
from chainlens.oi import _kernels, _panel, _rolls, _streaks
from chainlens.oi._bands import VOL_OI_BANDS, band_of
from chainlens.oi._panel import Panel

_EPOCH = dt.date(1970, 1, 1)
KEYS = ("underlying", "root", "symbol", "expiry", "strike", "right")


# ----------------------------------------------------------------------------------------------
# slow references: the previous implementation, copied verbatim (only renamed)
# ----------------------------------------------------------------------------------------------
def _ref_codes(col: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    enc = pc.dictionary_encode(arr)
    idx = enc.indices
    if idx.null_count:
        idx = pc.fill_null(idx, 0)
    return idx.to_numpy(zero_copy_only=False), enc.dictionary


def _ref_f64(col: pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(col.cast(pa.float64()), np.nan).to_numpy()


def ref_build_panel(
    history: pa.Table, *, as_of: dt.date | None = None, drop_stale: bool = True
) -> Panel:
    t = history
    if as_of is not None:
        t = t.filter(pc.less_equal(t.column("trade_date"), pa.scalar(as_of, pa.date32())))
    n = t.num_rows
    day = (
        t.column("trade_date").cast(pa.int32()).to_numpy().astype(np.int64)
        if n
        else np.zeros(0, np.int64)
    )
    cid, _ = (
        _ref_codes(t.column("symbol")) if n else (np.zeros(0, np.int64), pa.array([], pa.string()))
    )
    uid, unders = (
        _ref_codes(t.column("underlying"))
        if n
        else (np.zeros(0, np.int64), pa.array([], pa.string()))
    )
    oi_row = _ref_f64(t.column("open_interest")) if n else np.zeros(0)
    vol_row = (
        _ref_f64(t.column("volume")) if n and "volume" in t.column_names else np.full(n, np.nan)
    )
    n_u = len(unders)
    n_c = int(cid.max()) + 1 if n else 0
    dmin = int(day.min()) if n else 0
    span = int(day.max()) - dmin + 1 if n else 1
    ud_present = np.zeros((n_u, span), bool)
    ud_present[uid, day - dmin] = True
    stale: list[tuple[str, dt.date]] = []
    for _ in range(2):
        si_tab = np.cumsum(ud_present, axis=1) - 1
        n_sess = ud_present.sum(axis=1)
        width = int(n_sess.max()) if n_u else 0
        si = np.where(ud_present[uid, day - dmin], si_tab[uid, day - dmin], -1)
        ok = si >= 0
        row_at = np.full((n_c, max(width, 1)), -1, np.int64)
        rows = np.flatnonzero(ok)
        row_at[cid[rows], si[rows]] = rows
        listed = row_at >= 0
        ridx = np.where(listed, row_at, 0)
        oi_m = np.where(listed, oi_row[ridx] if n else 0.0, np.nan)
        vol = np.where(listed, vol_row[ridx] if n else 0.0, np.nan)
        sess_day = np.full((n_u, max(width, 1)), -1, np.int64)
        uu, dd = np.nonzero(ud_present)
        sess_day[uu, si_tab[uu, dd]] = dd + dmin
        con_uid = np.zeros(n_c, np.int64)
        con_uid[cid] = uid
        if not drop_stale or width < 2 or stale:
            break
        found = False
        for j in range(1, width):
            both = listed[:, j] & listed[:, j - 1]
            same = ~(oi_m[:, j] != oi_m[:, j - 1])
            diff_u = np.bincount(con_uid[both & ~same], minlength=n_u)
            both_u = np.bincount(con_uid[both], minlength=n_u)
            v_prev = np.where(listed[:, j - 1], vol[:, j - 1], np.nan)
            vol_u = np.bincount(con_uid, weights=np.nan_to_num(v_prev), minlength=n_u)
            known_u = np.bincount(con_uid, weights=np.isfinite(v_prev), minlength=n_u)
            rep = (both_u > 0) & (diff_u == 0) & ((vol_u > 0) | (known_u == 0))
            for u in np.flatnonzero(rep).tolist():
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
        table=t, cid=cid, uid=uid, si=si, keep=keep, oi=oi_m, vol=vol, listed=listed,
        row_at=row_at, con_uid=con_uid, expiry_day=exp, sess_day=sess_day, n_sessions=n_sess,
        underlyings=unders, stale=sorted(stale),
    )  # fmt: skip


def ref_changes_matrix(p: Panel) -> np.ndarray:
    ch = np.full(p.oi.shape, np.nan)
    if p.oi.shape[1] > 1:
        ch[:, :-1] = p.oi[:, 1:] - p.oi[:, :-1]
    return ch


def ref_streak_matrices(
    p: Panel, ch: np.ndarray, min_contracts: float, min_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore"):
        grow = ch > np.maximum(min_contracts, min_fraction * p.oi)
    streak = np.zeros(ch.shape, np.int64)
    total = np.zeros(ch.shape, np.float64)
    prev_s = np.zeros(ch.shape[0], np.int64)
    prev_t = np.zeros(ch.shape[0], np.float64)
    for j in range(ch.shape[1]):
        g = grow[:, j]
        prev_s = np.where(g, prev_s + 1, 0)
        prev_t = np.where(g, prev_t + np.nan_to_num(ch[:, j]), 0.0)
        streak[:, j] = prev_s
        total[:, j] = prev_t
    return grow, streak, total


def ref_trailing_mean(p: Panel, window: int) -> np.ndarray:
    n_c, w = p.vol.shape
    out = np.full((n_c, w), np.nan)
    for j in range(1, w):
        seen = np.zeros(n_c, np.int64)
        tot = np.zeros(n_c)
        cnt = np.zeros(n_c)
        for k in range(j - 1, -1, -1):
            take = p.listed[:, k] & (seen < window)
            v = p.vol[:, k]
            ok = take & np.isfinite(v)
            tot += np.where(ok, v, 0.0)
            cnt += ok
            seen += take
            if k < j - 1 - 4 * window and not (seen < window).any():
                break
        out[:, j] = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)
    return out


def ref_band_of(values: np.ndarray, bands: tuple[tuple[float, str, str, str], ...]) -> pa.Array:
    x = values.astype(np.float64)
    lows = np.array([b[0] for b in bands])
    i = np.searchsorted(lows, np.nan_to_num(x, nan=-1.0), side="right") - 1
    miss = np.isnan(x) | (i < 0)
    idx = pa.array(np.where(miss, 0, i).astype(np.int8), mask=miss)
    names = pa.array([b[1] for b in bands], pa.string())
    return pa.DictionaryArray.from_arrays(idx, names).cast(pa.string())


def ref_oi_changes(history: pa.Table, *, as_of=None, avg_window: int = 5, drop_stale=True):
    p = ref_build_panel(history, as_of=as_of, drop_stale=drop_stale)
    rows = np.flatnonzero(p.keep)
    c, j = p.cid[rows], p.si[rows]
    ch = ref_changes_matrix(p)
    oi_next = np.where(j + 1 < p.oi.shape[1], p.oi[c, np.minimum(j + 1, p.oi.shape[1] - 1)], np.nan)
    change = ch[c, j]
    avg = ref_trailing_mean(p, avg_window)[c, j]
    vol = p.vol[c, j]
    oi_d = p.oi[c, j]
    with np.errstate(invalid="ignore", divide="ignore"):
        vol_oi = np.where(oi_d > 0, vol / np.where(oi_d > 0, oi_d, 1.0), np.nan)
        mult = np.where(avg > 0, vol / np.where(avg > 0, avg, 1.0), np.nan)
    t = p.table.take(pa.array(rows)) if len(rows) != p.table.num_rows else p.table

    def col(x: np.ndarray, typ: pa.DataType) -> pa.Array:
        return pa.array(x, mask=np.isnan(x), from_pandas=False).cast(typ)

    cols = {k: t.column(k) for k in (*KEYS, "trade_date")}
    cols["si"] = pa.array(j.astype(np.int64))
    cols["open_interest"] = t.column("open_interest")
    cols["volume"] = (
        t.column("volume") if "volume" in t.column_names else pa.nulls(len(rows), pa.int64())
    )
    cols["oi_next"] = col(oi_next, pa.int64())
    cols["oi_change"] = col(change, pa.int64())
    cols["vol_oi"] = col(vol_oi, pa.float64())
    cols["avg_volume_5d"] = col(avg, pa.float64())
    cols["volume_multiple"] = col(mult, pa.float64())
    out = pa.table(cols)
    return out.append_column(
        "vol_oi_band", ref_band_of(_ref_f64(out.column("vol_oi")), VOL_OI_BANDS)
    )


def ref_turnover_quantile(p: Panel, ch: np.ndarray, q: float, min_obs: int = 1) -> np.ndarray:
    a = np.abs(ch)
    ok = np.isfinite(a) & (a > 0)
    rows, _ = np.nonzero(ok)
    vals = a[ok]
    out = np.zeros(len(p.underlyings))
    if len(vals) == 0:
        return out
    g = pl.DataFrame({"u": p.con_uid[rows], "a": vals})
    res = g.group_by("u").agg(pl.col("a").quantile(q, interpolation="linear"), pl.len().alias("n"))
    res = res.filter(pl.col("n") >= min_obs)
    out[res["u"].to_numpy()] = res["a"].to_numpy()
    return out


# ----------------------------------------------------------------------------------------------
# random histories
# ----------------------------------------------------------------------------------------------
def random_history(seed: int, *, volume: str = "int", chunked: bool = True) -> pa.Table:
    """Several underlyings, contracts listed/delisted, duplicate snapshots (the later wins),
    null volumes, a stale repeated session, roll-like and close-like moves."""
    rng = np.random.default_rng(seed)
    n_u = int(rng.integers(1, 5))
    n_c = int(rng.integers(20, 250))
    n_s = int(rng.integers(1, 9))
    u_of = rng.integers(0, n_u, n_c)
    unders = np.array([f"U{k}" for k in range(n_u)], dtype=object)
    exp0 = 19700 + n_s + rng.integers(0, 40, n_c) * 7
    strike = rng.integers(90, 111, n_c).astype(np.float64)
    right = np.where(rng.random(n_c) < 0.5, "C", "P").astype(object)
    sym = np.array([f"S{seed}_{k}" for k in range(n_c)], dtype=object)
    oi_c = rng.integers(0, 3000, n_c).astype(np.int64)
    days = 19700 + np.sort(rng.choice(np.arange(n_s + 3), n_s, replace=False))
    parts = []
    stale_at = int(rng.integers(1, n_s)) if n_s > 2 and rng.random() < 0.5 else -1
    for s, d in enumerate(days):
        if s != stale_at:
            step = rng.integers(-400, 500, n_c)
            step[rng.random(n_c) < 0.2] = 0
            big = rng.random(n_c) < 0.05
            step[big] = rng.integers(-3000, 3000, big.sum())
            oi_c = np.maximum(0, oi_c + step)
        listed = rng.random(n_c) < 0.9
        idx = np.flatnonzero(listed)
        dup = idx[rng.random(len(idx)) < 0.05]  # duplicate snapshots, the later one wins
        order = np.concatenate([idx, dup])
        rng.shuffle(order)
        oi_s = oi_c[order] + np.where(np.isin(np.arange(len(order)), range(len(idx))), 0, 7)
        vol = rng.integers(0, 2000, len(order)).astype(np.float64)
        vol[rng.random(len(order)) < 0.1] = np.nan
        if s == stale_at - 1:
            vol[:] = np.maximum(np.nan_to_num(vol), 1)
        cols = {
            "trade_date": pa.array(np.full(len(order), d, np.int32)).cast(pa.date32()),
            "underlying": pa.array(unders[u_of[order]], pa.string()),
            "root": pa.array(unders[u_of[order]], pa.string()),
            "symbol": pa.array(sym[order], pa.string()),
            "expiry": pa.array(exp0[order].astype(np.int32)).cast(pa.date32()),
            "strike": pa.array(strike[order]),
            "right": pa.array(right[order], pa.string()),
            "open_interest": pa.array(oi_s.astype(np.int64)),
        }
        if volume == "int":
            cols["volume"] = pa.array(vol, mask=np.isnan(vol)).cast(pa.int64())
        elif volume == "null":
            cols["volume"] = pa.nulls(len(order), pa.int64())
        parts.append(pa.table(cols))
    t = pa.concat_tables(parts)
    if stale_at > 0:  # the stale session repeats the previous file's OI
        prev = parts[stale_at - 1]
        rep = prev.set_column(0, "trade_date", parts[stale_at].column("trade_date")[:1].take(
            pa.array(np.zeros(prev.num_rows, np.int64))))  # fmt: skip
        t = pa.concat_tables([*parts[:stale_at], rep, *parts[stale_at + 1 :]])
    return t if chunked else t.combine_chunks()


CASES = [(s, v, c) for s in range(12) for v, c in (("int", True), ("null", False), ("none", True))]


def _assert_panel_equal(a: Panel, b: Panel) -> None:
    for f in ("cid", "uid", "si", "keep", "oi", "vol", "listed", "row_at", "con_uid",
              "expiry_day", "sess_day", "n_sessions"):  # fmt: skip
        x, y = getattr(a, f), getattr(b, f)
        assert x.shape == y.shape, f
        np.testing.assert_array_equal(x, y, err_msg=f)
    assert a.underlyings.equals(b.underlyings)
    assert a.stale == b.stale
    assert a.table.equals(b.table)


@pytest.fixture(params=[True, False], ids=["numba", "numpy"])
def engine(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Both engines, forced through the one engine policy (chainlens._engine)."""
    if request.param and not _kernels.HAVE_NUMBA:
        pytest.skip("numba not installed")
    with _engine.force("numba" if request.param else "numpy"):
        assert _kernels.use_nb() == request.param
        _panel._CACHE.clear()
        yield bool(request.param)


@pytest.mark.parametrize(("seed", "volume", "chunked"), CASES)
def test_panel_matches_reference(engine: bool, seed: int, volume: str, chunked: bool) -> None:
    h = random_history(seed, volume=volume, chunked=chunked)
    last = pc.max(h.column("trade_date")).as_py()
    for as_of in (None, last - dt.timedelta(days=2)):
        for drop in (True, False):
            _assert_panel_equal(
                _panel.build_panel(h, as_of=as_of, drop_stale=drop),
                ref_build_panel(h, as_of=as_of, drop_stale=drop),
            )


@pytest.mark.parametrize(("seed", "volume", "chunked"), CASES)
def test_oi_changes_match_reference(engine: bool, seed: int, volume: str, chunked: bool) -> None:
    h = random_history(seed, volume=volume, chunked=chunked)
    for window in (1, 5):
        got = oi.oi_changes(h, avg_window=window)
        want = ref_oi_changes(h, avg_window=window)
        assert got.schema == want.schema
        assert got.equals(want)


@pytest.mark.parametrize("seed", range(12))
def test_streaks_and_quantile_match_reference(engine: bool, seed: int) -> None:
    h = random_history(seed)
    p = _panel.build_panel(h)
    ch = _panel.changes_matrix(p)
    np.testing.assert_array_equal(ch, ref_changes_matrix(p))
    for a, f in ((50.0, 0.05), (0.0, 0.0), (200.0, 0.5)):
        got, want = _panel.streak_matrices(p, ch, a, f), ref_streak_matrices(p, ch, a, f)
        for x, y in zip(got, want, strict=True):
            np.testing.assert_array_equal(x, y)
    for q, m in ((0.95, 1), (0.5, 1), (0.0, 1), (1.0, 1), (0.95, 200), (0.37, 30)):
        np.testing.assert_array_equal(
            _rolls._turnover_quantile(p, ch, q, m), ref_turnover_quantile(p, ch, q, m)
        )


def test_turnover_quantile_many_values_and_ties(engine: bool) -> None:
    rng = np.random.default_rng(7)
    h = random_history(3)
    p = _panel.build_panel(h)
    for ch in (
        rng.normal(0, 500, p.oi.shape),
        np.round(rng.normal(0, 5, p.oi.shape)),
        np.where(rng.random(p.oi.shape) < 0.3, np.nan, rng.integers(-3, 4, p.oi.shape) * 1.5),
    ):
        for q in (0.95, 0.5, 0.01, 0.999):
            np.testing.assert_array_equal(
                _rolls._turnover_quantile(p, ch, q, 1), ref_turnover_quantile(p, ch, q, 1)
            )


def _reference_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    def ref_cached(history, *, as_of, drop_stale):  # type: ignore[no-untyped-def]
        return ref_build_panel(history, as_of=as_of, drop_stale=drop_stale)

    for mod in (_streaks, _rolls):
        monkeypatch.setattr(mod, "cached_panel", ref_cached)
        monkeypatch.setattr(mod, "changes_matrix", ref_changes_matrix)
        monkeypatch.setattr(mod, "streak_matrices", ref_streak_matrices)
    monkeypatch.setattr(_rolls, "_turnover_quantile", ref_turnover_quantile)


@pytest.mark.parametrize("seed", range(12))
def test_accumulation_and_rolls_match_reference(
    engine: bool, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = random_history(seed)
    cfg = oi.OIConfig(close_turnover_min_obs=5, roll_min_contracts=100.0)
    got_acc = oi.accumulation(h)
    got_rolls = oi.detect_rolls(h, config=cfg)
    got_w = oi.window_changes(h)
    with monkeypatch.context() as m:
        _reference_wiring(m)
        want_acc = oi.accumulation(h)
        want_rolls = oi.detect_rolls(h, config=cfg)
        want_w = oi.window_changes(h)
    assert got_acc.equals(want_acc)
    assert got_rolls.equals(want_rolls)
    assert got_w.equals(want_w)


def test_band_of_matches_reference(engine: bool) -> None:
    rng = np.random.default_rng(1)
    x = rng.choice(
        [np.nan, -1.0, 0.0, 0.5, 0.49, 1.0, 2.0, 5.0, 9.99, 10.0, 1e9, np.inf, -np.inf], 5000
    )
    x = np.concatenate([x, rng.exponential(3.0, 5000)])
    assert band_of(x, VOL_OI_BANDS).equals(ref_band_of(x, VOL_OI_BANDS))
    assert band_of(pa.array(x[:10]), VOL_OI_BANDS).equals(ref_band_of(x[:10], VOL_OI_BANDS))
    assert band_of(np.zeros(0), VOL_OI_BANDS).equals(ref_band_of(np.zeros(0), VOL_OI_BANDS))


def test_inconsistent_underlying_falls_back_to_row_codes() -> None:
    """A symbol whose rows disagree on the underlying keeps the per-row answer."""
    h = random_history(4)
    u = h.column("underlying").to_pylist()
    u[-1] = "OTHER"
    h2 = h.set_column(h.column_names.index("underlying"), "underlying", pa.array(u, pa.string()))
    _panel._CACHE.clear()
    # drop_stale=False: with the stale check, such a history fails in the reference too (the
    # contract's last-row underlying has no session there)
    _assert_panel_equal(
        _panel.build_panel(h2, drop_stale=False), ref_build_panel(h2, drop_stale=False)
    )


def test_inconsistent_underlying_with_stale_check_does_not_crash() -> None:
    """With stale dropping on (the default), such a history builds; the stale check is skipped."""
    h = random_history(4)
    u = h.column("underlying").to_pylist()
    u[-1] = "OTHER"
    h2 = h.set_column(h.column_names.index("underlying"), "underlying", pa.array(u, pa.string()))
    _panel._CACHE.clear()
    p = _panel.build_panel(h2)
    assert p.stale == []
    assert p.keep.sum() > 0


@pytest.mark.parametrize("seed", range(6))
def test_sliced_chunks(engine: bool, seed: int) -> None:
    """Arrow slices with a non-zero offset (string buffers read in place) give the reference."""
    h = random_history(seed)
    for t in (h.slice(7), h.slice(3, max(h.num_rows - 10, 1))):
        _assert_panel_equal(_panel.build_panel(t), ref_build_panel(t))
        _assert_panel_equal(
            _panel.build_panel(t, drop_stale=False), ref_build_panel(t, drop_stale=False)
        )


def test_empty_history(engine: bool) -> None:
    h = random_history(1).slice(0, 0)
    _assert_panel_equal(_panel.build_panel(h), ref_build_panel(h))
    assert oi.oi_changes(h).equals(ref_oi_changes(h))


def ref_window_legs(p: Panel, c: np.ndarray, e: np.ndarray, window: int) -> list[np.ndarray]:
    """The previous ``_window_frame`` leg arithmetic, verbatim."""
    s0 = np.maximum(e - window, 0)

    def oi_at(j: np.ndarray) -> np.ndarray:
        jj = np.maximum(j, s0)
        v = p.oi[c, jj]
        return np.where(p.listed[c, jj], np.nan_to_num(v), 0.0)

    out = [oi_at(s0), np.nan_to_num(p.oi[c, e])]
    for k in range(1, window + 1):
        col_k = e - window + k
        out.append(oi_at(col_k) - oi_at(col_k - 1))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_window_legs_match_reference(engine: bool, seed: int) -> None:
    p = _panel.build_panel(random_history(seed))
    e = p.n_sessions[p.con_uid] - 1
    c = np.flatnonzero(e >= 0)
    e = e[c]
    for window in (1, 2, 3, 5, 9):
        s, en, steps = _kernels.window_legs(p.oi, p.listed, c, e, window)
        want = ref_window_legs(p, c, e, window)
        for x, y in zip([s, en, *steps], want, strict=True):
            np.testing.assert_array_equal(x, y)
