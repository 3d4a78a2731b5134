"""The fast ingest paths against slow scalar references written here.

* the byte-level OSI symbol-vs-columns check (SWAR digits, day-range table) against a
  per-row Python parse of the symbol;
* the cross-batch duplicate tracker (sorted hash runs) against a dict of first lines;
* the canonical Parquet adapter end to end (row-group batching, rejects and reasons,
  conservation) against a per-row Python reference of the same rules;
* the stager's sortedness check and per-snapshot counts against Python sorts and counts.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainlens import schema
from chainlens.io import _common as C
from chainlens.io import _parquet
from chainlens.store import _stage

_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

ROOTS = ["SPX", "SPXW", "AAPL1", "NDXP", "IWM", "QQQ", "VIXW"]


# ----------------------------------------------------------------------------- references
def ref_osi_mismatch(sym: str, root: str, expiry: dt.date, right: str, strike: float):
    """(plain, {column: mismatch}) for one row, by string slicing."""
    if not 16 <= len(sym) <= 21:
        return False, {}
    tail = sym[-15:]
    digits = tail[:6] + tail[7:]
    if not all("0" <= c <= "9" for c in digits):
        return False, {}
    yy, mm, dd = int(tail[:2]), int(tail[2:4]), int(tail[4:6])
    want = (expiry.year % 100, expiry.month, expiry.day)
    return True, {
        "root": sym[:-15] != root,
        "expiry": (yy, mm, dd) != want or not 2000 <= expiry.year <= 2099,
        "right": tail[6] != right,
        "strike": abs(int(tail[7:]) / 1000.0 - strike) > 5e-4,
    }


def osi(root: str, expiry: dt.date, right: str, strike: float) -> str:
    return f"{root}{expiry:%y%m%d}{right}{round(strike * 1000):08d}"


@st.composite
def osi_rows(draw: st.DrawFn) -> list[tuple[str, str, dt.date, str, float]]:
    n = draw(st.integers(1, 40))
    rows = []
    for _ in range(n):
        root = draw(st.sampled_from(ROOTS))
        exp = draw(st.dates(dt.date(1995, 1, 1), dt.date(2105, 12, 31)))
        right = draw(st.sampled_from(["C", "P"]))
        strike = draw(st.integers(1, 99_999_999)) / 1000.0
        sym = osi(root, exp, right, strike)
        kind = draw(st.integers(0, 9))
        if kind == 1:
            root = draw(st.sampled_from(ROOTS))
        elif kind == 2:
            exp = draw(st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)))
        elif kind == 3:
            right = "P" if right == "C" else "C"
        elif kind == 4:
            strike = strike + draw(st.sampled_from([0.0004, 0.0006, 0.001, 1.0, -0.0006]))
        elif kind == 5 and draw(st.booleans()):
            pos = draw(st.integers(0, len(sym) - 1))
            sym = sym[:pos] + draw(st.sampled_from(["x", ":", "/", " ", "0"])) + sym[pos + 1 :]
        rows.append((sym, root, exp, right, strike))
    if draw(st.booleans()):  # same-length symbols take the 2-D view path
        keep = [r for r in rows if len(r[0]) == len(rows[0][0]) and len(r[1]) == len(rows[0][1])]
        rows = keep or rows[:1]
    return rows


# ----------------------------------------------------------------------------- OSI check
@_SETTINGS
@given(osi_rows())
def test_fast_osi_check_matches_scalar_reference(rows):
    cols = {
        "symbol": pa.array([r[0] for r in rows]),
        "root": pa.array([r[1] for r in rows]),
        "expiry": pa.array([r[2] for r in rows], pa.date32()),
        "right": pa.array([r[3] for r in rows]),
        "strike": pa.array([r[4] for r in rows], pa.float64()),
    }
    fast = C._fast_osi_mismatch(cols)
    ref = [ref_osi_mismatch(*r) for r in rows]
    if not all(p for p, _ in ref):
        assert fast is None  # the full parser takes over (and says why)
        return
    assert fast is not None
    for c in ("root", "expiry", "right", "strike"):
        assert fast[c].tolist() == [m[c] for _, m in ref], c


def test_swar_digits_hand_cases():
    b = np.frombuffer(b"0023091504500000" + b"0099123112345678", dtype=np.uint8).reshape(2, 16)
    vals, bad = C._swar_digits(b.view("<u8"))
    assert vals.tolist() == [[230915, 4500000], [991231, 12345678]]
    assert not bad.any()
    for junk in (b"/", b":", b" ", b"\xb0", b"a"):
        w = bytearray(b"0000000012345678")
        w[11] = junk[0]
        _, bad = C._swar_digits(np.frombuffer(bytes(w), dtype=np.uint8).view("<u8"))
        assert bad.tolist() == [False, True]


# ----------------------------------------------------------------------------- duplicates
@_SETTINGS
@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 12), st.booleans()), max_size=80),
    st.lists(st.integers(1, 15), min_size=1, max_size=12),
)
def test_duplicate_tracker_matches_dict_reference(rows, cuts):
    ts = pa.array([r[0] * 10**9 for r in rows], pa.timestamp("ns", tz="UTC"))
    sym = pa.array([f"SPXW2401{r[1]:02d}C00001000" for r in rows])
    cand = np.array([r[2] for r in rows], dtype=bool)
    lines = np.arange(2, 2 + len(rows), dtype=np.int64)
    # Reference: first line of each (ts, symbol) among candidate rows, in file order.
    seen: dict[tuple[int, int], int] = {}
    want = []
    for (t, s, c), ln in zip(rows, lines.tolist(), strict=True):
        if not c:
            want.append(-1)
        elif (t, s) in seen:
            want.append(seen[(t, s)])
        else:
            seen[(t, s)] = ln
            want.append(-1)
    tracker = C.DuplicateTracker()
    h = tracker.hash_keys(ts, sym)
    got: list[int] = []
    i, k = 0, 0
    while i < len(rows):
        j = min(len(rows), i + cuts[k % len(cuts)])
        got.extend(tracker.check(h[i:j], lines[i:j], cand[i:j]).tolist())
        i, k = j, k + 1
    assert got == want
    assert len(tracker.runs) <= max(1, int(np.log2(max(len(rows), 1))) + 2)


# ----------------------------------------------------------------------------- adapter
def _ref_rejects(rows: list[dict]) -> list[tuple[int, str]]:
    """(row, reason) a per-row reference of the rules a clean-typed chain can break."""
    out = []
    seen: dict[tuple, int] = {}
    for i, r in enumerate(rows, start=1):
        reason = None
        for c in ("bid", "ask", "spot"):
            v = r[c]
            if v is not None and not np.isfinite(v):
                reason = "NaN or inf"
                break
        if reason is None and r["volume"] is not None and r["volume"] < 0:
            reason = "negative value"
        elif reason is None and r["strike"] <= 0:
            reason = "strike must be > 0"
        elif reason is None and r["bid"] is not None and r["bid"] < 0:
            reason = "negative price"
        elif reason is None and r["expiry"] < r["trade_date"]:
            reason = "expiry before the session"
        if reason is None:
            plain, mm = ref_osi_mismatch(
                r["symbol"], r["root"], r["expiry"], r["right"], r["strike"]
            )
            assert plain
            for c in ("root", "expiry", "right", "strike"):
                if mm[c]:
                    reason = f"symbol does not match the {c} column"
                    break
        if reason is None:
            key = (r["snapshot_ts"], r["symbol"])
            if key in seen:
                reason = f"duplicate contract in snapshot (first at row {seen[key]})"
            else:
                seen[key] = i
        if reason is not None:
            out.append((i, reason))
    return out


@st.composite
def chain_rows(draw: st.DrawFn) -> list[dict]:
    n = draw(st.integers(1, 60))
    day = dt.date(2024, 1, 12)
    rows = []
    for _ in range(n):
        root = draw(st.sampled_from(["SPX", "SPXW"]))
        exp = day + dt.timedelta(days=draw(st.integers(-2, 40)))
        right = draw(st.sampled_from(["C", "P"]))
        strike = float(draw(st.integers(1, 12)) * 5)
        r = {
            "trade_date": day,
            "snapshot_ts": dt.datetime(2024, 1, 12, 21, draw(st.integers(0, 1)), tzinfo=dt.UTC),
            "underlying": "SPX",
            "root": root,
            "symbol": osi(root, exp, right, strike),
            "expiry": exp,
            "settlement": "AM" if root == "SPX" else "PM",
            "strike": strike,
            "right": right,
            "multiplier": 100,
            "bid": draw(st.sampled_from([1.0, 2.5, None, -1.0, float("nan"), float("inf")])),
            "ask": draw(st.sampled_from([3.0, 0.5, None])),
            "volume": draw(st.sampled_from([0, 7, None, -3])),
            "open_interest": 10,
            "spot": 4780.0,
        }
        bad = draw(st.integers(0, 12))
        if bad == 1:
            r["right"] = "P" if right == "C" else "C"
        elif bad == 2:
            r["strike"] = strike + 1
        elif bad == 3:
            r["strike"] = -strike
        rows.append(r)
    return rows


@_SETTINGS
@given(chain_rows(), st.integers(1, 7), st.integers(1, 9))
def test_parquet_adapter_rejects_match_reference(tmp_path_factory, rows, rg, batch):
    path = Path(tmp_path_factory.mktemp("pq")) / "chain.parquet"
    cols = [f.name for f in schema.CHAIN if f.name in rows[0]]
    table = pa.Table.from_pylist(rows, schema=pa.schema([schema.CHAIN.field(c) for c in cols]))
    pq.write_table(table, path, row_group_size=rg)
    results = list(_parquet.read(path, batch_rows=batch))
    assert all(r.table.num_rows + r.rejects.num_rows == r.rows_read for r in results)
    assert sum(r.rows_read for r in results) == len(rows)
    assert all(r.rows_read <= batch for r in results)
    got = sorted(
        (row, reason)
        for r in results
        for row, reason in zip(
            r.rejects.column("row").to_pylist(), r.rejects.column("reason").to_pylist(), strict=True
        )
    )
    assert got == _ref_rejects(rows)
    accepted = pa.concat_tables([r.table for r in results])
    rejected_rows = {row for row, _ in got}
    keep = [r["symbol"] for i, r in enumerate(rows, start=1) if i not in rejected_rows]
    assert accepted.column("symbol").to_pylist() == keep


# ----------------------------------------------------------------------------- stager
@_SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "SPX"]),
            st.integers(0, 2),
            st.integers(0, 3),
            st.sampled_from([1.0, 2.5, 10.0]),
            st.sampled_from(["C", "P"]),
        ),
        max_size=30,
    ),
    st.booleans(),
)
def test_is_sorted_and_sort_match_reference(rows, presort):
    if presort:
        rows = sorted(rows)
    t = pa.table(
        {
            "underlying": pa.array([r[0] for r in rows], pa.string()),
            "snapshot_ts": pa.array([r[1] for r in rows], pa.int64()).cast(
                pa.timestamp("ns", tz="UTC")
            ),
            "expiry": pa.array([r[2] for r in rows], pa.int32()).cast(pa.date32()),
            "strike": pa.array([r[3] for r in rows], pa.float64()),
            "right": pa.array([r[4] for r in rows], pa.string()),
        }
    )
    keys = [(k, "ascending") for k in t.column_names]
    assert _stage.is_sorted(t, keys) == (rows == sorted(rows))
    srt = _stage.sort_table(t, "chain")
    got = [
        (r["underlying"], r["snapshot_ts"], r["expiry"], r["strike"], r["right"])
        for r in srt.to_pylist()
    ]
    want = sorted(
        (r["underlying"], r["snapshot_ts"], r["expiry"], r["strike"], r["right"])
        for r in t.to_pylist()
    )
    assert got == want


def test_snapshot_counts_match_reference():
    rng = np.random.default_rng(3)
    n = 500
    und = rng.choice(["A", "B", "C"], n)
    ns = rng.integers(0, 3, n)
    bid = np.where(rng.random(n) < 0.3, np.nan, 1.0)
    t = pa.table(
        {
            "underlying": und,
            "snapshot_ts": pa.array(ns, pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
            "bid": pa.array(bid, from_pandas=True),
            "ask": pa.nulls(n, pa.float64()),
            "last": pa.nulls(n, pa.float64()),
            "volume": pa.nulls(n, pa.int64()),
        }
    )
    t = t.take(np.lexsort((ns, und)))
    st_ = _stage.Staged(staged=Path("x"), rel="x", kind="chain", trade_date=None)
    half = n // 2
    _stage.Stager._count_snapshots(st_, t.slice(0, half))
    _stage.Stager._count_snapshots(st_, t.slice(half))
    ref: dict[tuple[str, int], list[int]] = {}
    for u, k, b in zip(und.tolist(), ns.tolist(), bid.tolist(), strict=True):
        c = ref.setdefault((u, k), [0, 0])
        c[0] += 1
        c[1] += int(not np.isnan(b))
    got = {(u, k): [s.contracts, s.quoted] for (u, k), s in st_.snapshots.items()}
    assert got == ref


@pytest.mark.parametrize(("rg", "batch"), [(3, 10), (10, 3), (7, 7), (1, 4)])
def test_parquet_batches_cover_the_file_in_order(tmp_path, rg, batch):
    n = 37
    t = pa.table({"x": np.arange(n)})
    pq.write_table(t, tmp_path / "x.parquet", row_group_size=rg)
    parts = list(_parquet._iter_tables(pq.ParquetFile(tmp_path / "x.parquet"), ["x"], batch))
    assert all(p.num_rows <= batch for p in parts)
    assert pa.concat_tables(parts).column("x").to_pylist() == list(range(n))


def test_is_sorted_hand_cases():
    asc = [("x", "ascending"), ("y", "ascending")]
    assert _stage.is_sorted(pa.table({"x": [1, 1, 2], "y": ["b", "c", "a"]}), asc)
    assert not _stage.is_sorted(pa.table({"x": [1, 1, 2], "y": ["c", "b", "a"]}), asc)
    assert not _stage.is_sorted(pa.table({"x": [float("nan"), 1.0], "y": ["a", "a"]}), asc)
    assert not _stage.is_sorted(pa.table({"x": [None, 1], "y": ["a", "a"]}), asc)
    assert _stage.is_sorted(pa.table({"x": [3], "y": ["a"]}), asc)
