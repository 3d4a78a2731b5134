"""Issue 13: the scanners batched across underlyings (``store_scan``, ``scan_parts``) give the
rows of one kernel call per underlying (``store_scan_per_underlying``, the reference): the
same rows in the same order, integers and strings exactly, floats to 1e-12 relative.

Two real stores (DuckDB catalog + Parquet): the demo market, and a market built from it
whose names are listed on different first sessions, with a gap, a name without trades (the
net-delta scanner reads its OI changes), OI-only snapshots merged into quote snapshots and
a second, earlier quote snapshot in another file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens.oi import OIConfig
from chainlens.scan import ScanSettings
from chainlens.scan._store_scans import KINDS, store_scan, store_scan_per_underlying
from chainlens.store import Store

#: Thresholds under which every scanner reports rows on the small markets: unusual keeps
#: every name with an average (as the stored part does), streaks of two sessions count.
EVERY = ScanSettings(unusual_min_multiple=1e-300, unusual_min_sessions=1)
OI_CFG = OIConfig(streak_min_sessions=2)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dt.date]]:
    """The demo market (every scenario kind planted), smaller: 12 underlyings, 6 sessions."""
    from chainlens.sim import build_demo_market

    tmp = tmp_path_factory.mktemp("scan_batched")
    m = build_demo_market(tmp / "sim", seed=7, underlyings=12, sessions=6)
    with Store(tmp / "store") as st:
        st.ingest_many(m.all_paths())
    return tmp / "store", list(m.sessions)


def _day(t: pa.Table, d: dt.date) -> pa.Table:
    return t.filter(pc.equal(t.column("trade_date"), pa.scalar(d, pa.date32())))


def _set(t: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    i = t.schema.get_field_index(name)
    return t.set_column(i, t.schema.field(i), values)


@pytest.fixture(scope="module")
def staggered_store(
    demo_store: tuple[Path, list[dt.date]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[dt.date]]:
    """The demo market rewritten: name ``i`` is listed from session ``i % 3``; name 4 misses
    session 3; name 5 has no trades; name 6's last two sessions have their quote snapshot's
    OI nulled on every other contract and a later OI-only snapshot (OI + 7) in another file;
    name 7's last session has a second, earlier quote snapshot in another file."""
    src, days = demo_store
    root = tmp_path_factory.mktemp("scan_staggered") / "store"
    with Store(src, read_only=True) as st:
        names = st.underlyings(days[-1])
        hist = {u: st.chain_history(u, end=days[-1]) for u in names}  # test setup, per name
        trades = {(u, d): st.trades(u, d) for u in names for d in days}
    with Store(root) as out:
        for j, d in enumerate(days):  # one source per session
            chains, trs, extra, oi_only = [], [], [], []
            for i, u in enumerate(names):
                if j < i % 3 or (i == 4 and j == 3):
                    continue
                c = _day(hist[u], d)
                if i == 6 and j >= len(days) - 2:
                    oi = c.column("open_interest").combine_chunks()
                    odd = pa.array([k % 2 == 1 for k in range(c.num_rows)])
                    later = pc.add(c.column("snapshot_ts").cast(pa.int64()), 3_600_000_000_000)
                    o = _set(c, "open_interest", pc.add(oi, 7))
                    o = _set(o, "snapshot_ts", later.cast(c.schema.field("snapshot_ts").type))
                    for col in ("bid", "ask", "last", "volume"):
                        o = _set(o, col, pa.nulls(o.num_rows, o.schema.field(col).type))
                    oi_only.append(o)
                    c = _set(c, "open_interest", pc.if_else(odd, pa.nulls(c.num_rows, oi.type), oi))
                if i == 7 and j == len(days) - 1:
                    early = pc.subtract(c.column("snapshot_ts").cast(pa.int64()), 3_600_000_000_000)
                    e = _set(c, "snapshot_ts", early.cast(c.schema.field("snapshot_ts").type))
                    e = _set(e, "open_interest", pc.add(e.column("open_interest"), 1000))
                    extra.append(e)
                chains.append(c)
                if i != 5:
                    trs.append(trades[(u, d)])
            out.add_tables(
                {"chain": pa.concat_tables(chains), "trades": pa.concat_tables(trs)},
                source=f"session-{d}",
            )
            if extra:  # published after: the same session's default stays the later one
                out.add_tables({"chain": pa.concat_tables(extra)}, source=f"early-{d}")
            if oi_only:
                out.add_tables({"chain": pa.concat_tables(oi_only)}, source=f"occ-{d}")
    return root, days


def assert_same(ref: pa.Table, got: pa.Table, what: str) -> None:
    """Same columns and rows in the same order; floats to 1e-12 relative (nulls and NaN
    equal), everything else exactly."""
    assert got.column_names == ref.column_names, what
    assert got.num_rows == ref.num_rows, what
    for c in ref.column_names:
        a, b = ref.column(c).to_pylist(), got.column(c).to_pylist()
        if pa.types.is_floating(ref.schema.field(c).type):
            for x, y in zip(a, b, strict=True):
                if x is None or y is None or math.isnan(x) or math.isnan(y):
                    assert (x is None) == (y is None), (what, c, x, y)
                    assert x is None or math.isnan(x) == math.isnan(y), (what, c, x, y)
                else:
                    assert x == pytest.approx(y, rel=1e-12, abs=0.0), (what, c, x, y)
        else:
            assert a == b, (what, c)


def _check_all(root: Path, sessions: list[dt.date], block_rows: list[int]) -> dict[str, int]:
    rows: dict[str, int] = {}
    with Store(root, read_only=True) as st:
        for d in sessions:
            for kind in KINDS:
                ref = store_scan_per_underlying(st, kind, d, config=OI_CFG, settings=EVERY)
                rows[kind] = rows.get(kind, 0) + ref.num_rows
                for b in block_rows:
                    got = store_scan(st, kind, d, config=OI_CFG, settings=EVERY, block_rows=b)
                    assert_same(ref, got, f"{kind} {d} block_rows={b}")
    return rows


def test_batched_equals_per_underlying_demo(demo_store: tuple[Path, list[dt.date]]) -> None:
    root, days = demo_store
    rows = _check_all(root, days[-2:], [1, 5_000, 2_000_000])
    # every kind reports something, so the comparison is not vacuous
    assert all(rows[k] > 0 for k in KINDS), rows


def test_batched_equals_per_underlying_staggered(
    staggered_store: tuple[Path, list[dt.date]],
) -> None:
    root, days = staggered_store
    with Store(root, read_only=True) as st:
        firsts = {st.session_dates(u)[0] for u in st.underlyings()}
        assert len(firsts) == 3  # names listed on three different first sessions
        assert "oi_only" in st.sessions().column("kind").to_pylist()
    rows = _check_all(root, days[1:], [1, 3_000, 2_000_000])
    assert all(rows[k] > 0 for k in KINDS), rows


def test_chain_and_trades_block_equal_per_name_reads(
    staggered_store: tuple[Path, list[dt.date]],
) -> None:
    """The multi-underlying reads equal the per-underlying ones (OI-only OI merged in,
    the default snapshot of each name, each name's own window)."""
    root, days = staggered_store
    with Store(root, read_only=True) as st:
        names = st.underlyings()
        for n, start in ((3, None), (None, days[2]), (None, None)):
            ref = pa.concat_tables(
                [st.chain_history(u, end=days[-1], n_sessions=n, start=start) for u in names]
            )
            got = st.chain_block(None, end=days[-1], n_sessions=n, start=start)
            assert got.equals(ref.cast(got.schema)), (n, start)
            sub = st.chain_block(names[3:8], end=days[-2], n_sessions=n, start=start,
                                 columns=["underlying", "open_interest", "volume"])  # fmt: skip
            ref2 = pa.concat_tables(
                [st.chain_history(u, end=days[-2], n_sessions=n, start=start) for u in names[3:8]]
            )
            assert sub.equals(ref2.select(sub.column_names).cast(sub.schema))
        for d in days:
            got = st.trades_block(names, d)
            for u in names:
                mine = got.filter(pc.equal(got.column("underlying"), u))
                assert mine.equals(st.trades(u, d)), (u, d)


def test_scan_parts_equal_per_underlying(demo_store: tuple[Path, list[dt.date]]) -> None:
    """The stored parts of ``chainlens run`` are the reference scanners' rows."""
    from chainlens.results import conform
    from chainlens.scan._stored import _TINY, scan_parts

    root, days = demo_store
    st_every = dataclasses.replace(ScanSettings(), unusual_min_multiple=_TINY,
                                   unusual_min_sessions=1)  # fmt: skip
    with Store(root, read_only=True) as st:
        d = days[-1]
        parts = scan_parts(st, d)
        for part, kind, settings in (
            ("scan_unusual", "unusual", st_every),
            ("scan_netdelta", "netdelta", ScanSettings()),
        ):
            ref = store_scan_per_underlying(st, kind, d, settings=settings)
            assert ref.num_rows, part
            if "session" not in ref.column_names:
                ref = ref.append_column("session", pa.array([d] * ref.num_rows, pa.date32()))
            assert_same(conform(part, ref), parts[part], part)


def test_unknown_kind_is_a_config_error(demo_store: tuple[Path, list[dt.date]]) -> None:
    from chainlens.errors import ConfigError

    root, days = demo_store
    with Store(root, read_only=True) as st, pytest.raises(ConfigError):
        store_scan(st, "bogus", days[-1])


def test_netdelta_reads_stored_daily_parts(
    staggered_store: tuple[Path, list[dt.date]], tmp_path: Path
) -> None:
    """The net-delta scanner of the last session, with the ``scan_netdelta_daily`` parts of
    some past sessions stored by their runs (here: written from ``scan_parts``), equals the
    reference; and it does read them (a doctored part changes the result)."""
    import shutil

    from chainlens.results import RESULTS_NAME
    from chainlens.scan._store_scans import DAILY_PART
    from chainlens.scan._stored import scan_parts

    src, days = staggered_store
    root = tmp_path / "store"
    shutil.copytree(src, root)
    st_nd = ScanSettings()
    with Store(root) as st:
        last = days[-1]
        ref = store_scan_per_underlying(st, "netdelta", last, settings=st_nd)
        assert ref.num_rows
        written = []
        for d in days[1:-1:2] + [days[-2]]:  # some past sessions, not all
            part = scan_parts(st, d)[DAILY_PART]
            assert part.num_rows and set(part.column("session").to_pylist()) == {d}
            st.write_results(RESULTS_NAME, d, {DAILY_PART: part})
            written.append(d)
        for b in (1, 2_000_000):
            got = store_scan(st, "netdelta", last, settings=st_nd, block_rows=b)
            assert_same(ref, got, f"netdelta with stored parts {written} block_rows={b}")
        # a doctored stored part is what the scanner reads
        d = days[-2]
        part = st.read_results(RESULTS_NAME, d, DAILY_PART)
        i = part.schema.get_field_index("delta_shares")
        bumped = pc.add(part.column("delta_shares"), 1e9)
        st.write_results(RESULTS_NAME, d, {DAILY_PART: part.set_column(i, part.field(i), bumped)})
        moved = store_scan(st, "netdelta", last, settings=st_nd)
        fresh = store_scan(st, "netdelta", last, settings=st_nd, use_stored=False)
        assert_same(ref, fresh, "netdelta without stored parts")
        assert (
            moved.column("cum_delta_shares").to_pylist()
            != fresh.column("cum_delta_shares").to_pylist()
        )


# ------------------------------------------------------------------ net delta in run blocks
def _nd_blocks(root: Path, d: dt.date, cuts: list[int], today: bool) -> tuple[pa.Table, pa.Table]:
    """:func:`netdelta_block` of the session's underlyings cut at ``cuts`` (each block with
    its restricted task, as a pool task gets it), concatenated in block order; ``today``:
    hand each block the session's trades already read (as the run's windows hold them)."""
    from chainlens.scan._store_scans import netdelta_block, netdelta_task

    with Store(root, read_only=True) as st:
        names = st.underlyings(d)
        task = netdelta_task(st, d)
        trades = st.trades_block(names, d) if today else None
    rows, daily = [], []
    edges = [0, *cuts, len(names)]
    for a, b in zip(edges, edges[1:], strict=False):  # a loop over blocks
        block = names[a:b]
        tr = None
        if trades is not None:
            tr = trades.filter(pc.is_in(trades.column("underlying"), pa.array(block, pa.string())))
        r, dl = netdelta_block(task.restrict(block), block, tr)
        if r.num_rows:
            rows.append(r)
        daily.append(dl)
    return pa.concat_tables(rows) if rows else pa.table({}), pa.concat_tables(daily)


def _check_nd_blocks(root: Path, sessions: list[dt.date], cut_sets: list[list[int]]) -> int:
    """The blocks' rows and daily part equal :func:`netdelta_scan`'s (its daily part: the
    session's stored ``scan_netdelta_daily`` of ``scan_parts``) for every cut and session."""
    from chainlens.scan._store_scans import netdelta_scan

    n = 0
    for d in sessions:
        with Store(root, read_only=True) as st:
            ref_rows, ref_daily = netdelta_scan(st, d)
        n += ref_rows.num_rows + ref_daily.num_rows
        for cuts in cut_sets:
            for today in (False, True):
                rows, daily = _nd_blocks(root, d, cuts, today)
                what = f"{d} cuts={cuts} today={today}"
                if ref_rows.num_rows or rows.num_rows:
                    assert_same(ref_rows, rows, f"netdelta rows {what}")
                assert_same(ref_daily, daily, f"daily part {what}")
                assert daily.column("trades").to_pylist() == ref_daily.column("trades").to_pylist()
    return n


def test_netdelta_blocks_equal_netdelta_scan_demo(demo_store: tuple[Path, list[dt.date]]) -> None:
    root, days = demo_store
    assert _check_nd_blocks(root, days[-2:], [[], [1, 2, 7], list(range(1, 12))]) > 0


def test_netdelta_blocks_equal_netdelta_scan_staggered(
    staggered_store: tuple[Path, list[dt.date]],
) -> None:
    root, days = staggered_store
    assert _check_nd_blocks(root, days[1:], [[], [4, 5, 6, 7]]) > 0


def test_file_blocks_equal_store_block_reads(staggered_store: tuple[Path, list[dt.date]]) -> None:
    """:class:`chainlens.store.FileBlocks` (files only, the catalog resolved once) reads what
    :meth:`Store.chain_block` and :meth:`Store.trades_block` read (OI-only OI merged in, the
    default snapshot of each name, each name's own window)."""
    from chainlens.store import FileBlocks

    root, days = staggered_store
    with Store(root, read_only=True) as st:
        names = st.underlyings()
        snaps = st.default_snapshots(end=days[-1], start=days[1])
        fb = FileBlocks(str(root), snaps, {d: st.dated_files("trades", d) for d in days})
        for block in (names, names[3:8], names[6:7]):
            part = fb.restrict(block)
            for end, start in ((days[-1], days[1]), (days[-2], days[2])):
                cols = ["underlying", "trade_date", "symbol", "open_interest", "delta"]
                ref = st.chain_block(block, end=end, start=start, columns=cols)
                got = part.chain_block(block, end=end, start=start, columns=cols)
                assert got.equals(ref), (block, end, start)
            for d in days:
                assert part.trades_block(block, d).equals(st.trades_block(block, d)), (block, d)


def test_run_builds_netdelta_parts_in_blocks(
    demo_store: tuple[Path, list[dt.date]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chainlens run`` (in-process blocks) stores the net-delta parts its blocks built (the
    parent does not scan): the scanner rows equal the per-underlying reference, the daily
    part equals :func:`netdelta_scan`'s; a run of some names only scans in the parent."""
    import shutil

    from chainlens.results import RESULTS_NAME, conform
    from chainlens.runners import _blocks, local
    from chainlens.scan import _stored
    from chainlens.scan._store_scans import DAILY_PART, netdelta_scan

    src, days = demo_store
    root = tmp_path / "store"
    shutil.copytree(src, root)
    d = days[-1]

    def boom(*a: object, **k: object) -> object:
        raise AssertionError("the parent scanned the session's trades")

    monkeypatch.setattr(local, "BLOCK_MAX", 5)  # several blocks
    monkeypatch.setattr(_blocks, "BLOCK_MAX", 5)
    with Store(root) as st:
        ref = store_scan_per_underlying(st, "netdelta", d)
        _, ref_daily = netdelta_scan(st, d)
        with monkeypatch.context() as mp:
            mp.setattr(_stored, "netdelta_scan", boom)
            out = local.run_local(st, d, workers=1)
        assert out["failed"] == [] and ref.num_rows
        ref = ref.append_column("session", pa.array([d] * ref.num_rows, pa.date32()))
        assert_same(conform("scan_netdelta", ref), st.read_results(RESULTS_NAME, d, "scan_netdelta"),
                    "scan_netdelta")  # fmt: skip
        ref_daily = ref_daily.append_column(
            "session", pa.array([d] * ref_daily.num_rows, pa.date32())
        )
        assert_same(conform(DAILY_PART, ref_daily), st.read_results(RESULTS_NAME, d, DAILY_PART),
                    DAILY_PART)  # fmt: skip
        assert _stored.netdelta_run_task(st, d, st.underlyings(d)[:3]) is None


@pytest.fixture(scope="module")
def sim200_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dt.date]]:
    """A simulated market of 200 underlyings, 4 sessions (the size a run pools at)."""
    from chainlens.sim import SimConfig, simulate_market

    tmp = tmp_path_factory.mktemp("scan_sim200")
    m = simulate_market(SimConfig(underlyings=200, sessions=4, seed=3, trades_per_underlying=120,
                                  prints_per_underlying=5), tmp / "sim")  # fmt: skip
    with Store(tmp / "store") as st:
        st.ingest_many(m.all_paths())
    return tmp / "store", list(m.sessions)


@pytest.mark.slow
def test_netdelta_blocks_equal_netdelta_scan_sim200(
    sim200_store: tuple[Path, list[dt.date]],
) -> None:
    root, days = sim200_store
    assert _check_nd_blocks(root, days[-1:], [[1, 50, 51, 120, 199]]) > 0


@pytest.mark.slow
def test_pooled_runs_store_the_reference_netdelta_sim200(
    sim200_store: tuple[Path, list[dt.date]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two days' pooled runs (2 workers): each block builds its net-delta parts (the parent
    never scans), the second reads the first's stored daily part; the stored scanner rows
    equal the per-underlying reference and the daily part :func:`netdelta_scan`'s."""
    import shutil

    from chainlens.results import RESULTS_NAME, conform
    from chainlens.runners import local
    from chainlens.scan import _stored
    from chainlens.scan._store_scans import DAILY_PART, netdelta_scan

    src, days = sim200_store
    root = tmp_path / "store"
    shutil.copytree(src, root)

    def boom(*a: object, **k: object) -> object:
        raise AssertionError("the parent scanned the session's trades")

    with Store(root) as st:
        for d in days[-2:]:
            with monkeypatch.context() as mp:
                mp.setattr(_stored, "netdelta_scan", boom)
                out = local.run_local(st, d, workers=2)
            assert out["failed"] == [] and out["workers"] == 2
        d = days[-1]
        assert days[-2] in _stored.netdelta_run_task(st, d, st.underlyings(d)).stored  # type: ignore[union-attr]
        ref = store_scan_per_underlying(st, "netdelta", d)
        assert ref.num_rows
        ref = ref.append_column("session", pa.array([d] * ref.num_rows, pa.date32()))
        assert_same(conform("scan_netdelta", ref), st.read_results(RESULTS_NAME, d, "scan_netdelta"),
                    "scan_netdelta")  # fmt: skip
        _, daily = netdelta_scan(st, d, use_stored=False)
        daily = daily.append_column("session", pa.array([d] * daily.num_rows, pa.date32()))
        assert_same(conform(DAILY_PART, daily), st.read_results(RESULTS_NAME, d, DAILY_PART),
                    DAILY_PART)  # fmt: skip


# ------------------------------------------- net delta from the run windows' rows (issue 13)
def _nd_window_blocks(root: Path, d: dt.date, cuts: list[int]) -> tuple[pa.Table, pa.Table]:
    """:func:`netdelta_block` of blocks cut at ``cuts``, each handed the session's trades and
    chain rows of the run's windows (:func:`chainlens.runners.local.iter_windows`), as
    ``chainlens run``'s blocks do (:func:`chainlens.runners._blocks._netdelta_parts`)."""
    from chainlens.pipeline import PipelineConfig
    from chainlens.runners.local import iter_windows
    from chainlens.scan._store_scans import netdelta_block, netdelta_task, session_rows

    with Store(root, read_only=True) as st:
        names = st.underlyings(d)
        task = netdelta_task(st, d)
        windows = list(iter_windows(st, d, names, PipelineConfig()))
    rows, daily = [], []
    edges = [0, *cuts, len(names)]
    for a, b in zip(edges, edges[1:], strict=False):  # a loop over blocks
        ws = windows[a:b]
        chain = session_rows([w.history for w in ws], d)
        assert chain is not None
        today = pa.concat_tables([w.trades for w in ws])
        r, dl = netdelta_block(task.restrict(names[a:b]), names[a:b], today, chain)
        if r.num_rows:
            rows.append(r)
        daily.append(dl)
    return pa.concat_tables(rows) if rows else pa.table({}), pa.concat_tables(daily)


def _check_nd_window_blocks(root: Path, sessions: list[dt.date], cut_sets: list[list[int]]) -> int:
    from chainlens.scan._store_scans import netdelta_scan

    n = 0
    for d in sessions:
        with Store(root, read_only=True) as st:
            ref_rows, ref_daily = netdelta_scan(st, d)
            per_name = store_scan_per_underlying(st, "netdelta", d)
        if per_name.num_rows:
            assert_same(per_name, ref_rows, f"netdelta_scan {d}")
        n += ref_rows.num_rows + ref_daily.num_rows
        for cuts in cut_sets:
            rows, daily = _nd_window_blocks(root, d, cuts)
            what = f"{d} cuts={cuts} window rows"
            if ref_rows.num_rows or rows.num_rows:
                assert_same(ref_rows, rows, f"netdelta rows {what}")
            assert_same(ref_daily, daily, f"daily part {what}")
    return n


def test_netdelta_window_blocks_equal_reference_demo(
    demo_store: tuple[Path, list[dt.date]],
) -> None:
    """The blocks that take the session's chain rows and trades from the run's windows (the
    window itself from the catalog) give the rows and daily part of :func:`netdelta_scan`
    and the per-underlying reference, whatever the cuts."""
    root, days = demo_store
    assert _check_nd_window_blocks(root, days[-2:], [[], [1, 2, 7], list(range(1, 12))]) > 0


def test_netdelta_window_blocks_equal_reference_staggered(
    staggered_store: tuple[Path, list[dt.date]], tmp_path: Path
) -> None:
    """The same on the staggered market (names listed late, a gap, a name without trades:
    its OI changes read from the files, OI-only snapshots merged), with and without the
    stored daily parts of past sessions (the steady state of daily runs)."""
    import shutil

    from chainlens.results import RESULTS_NAME
    from chainlens.scan._store_scans import DAILY_PART
    from chainlens.scan._stored import scan_parts

    src, days = staggered_store
    assert _check_nd_window_blocks(src, days[1:], [[], [4, 5, 6, 7]]) > 0
    root = tmp_path / "store"
    shutil.copytree(src, root)
    with Store(root) as st:
        for d in days[:-1]:  # the daily runs before the last session
            st.write_results(RESULTS_NAME, d, {DAILY_PART: scan_parts(st, d)[DAILY_PART]})
    assert _check_nd_window_blocks(root, days[-1:], [[], [3, 5, 6]]) > 0


# ------------------------------------------ unusual scanner from the run blocks' flows (issue 13)
def _unusual_from_window_blocks(
    root: Path, d: dt.date, cuts: list[int], n_sessions: int
) -> pa.Table | None:
    """:func:`unusual_from_flows` of the flows :func:`unusual_block_flows` gives for blocks
    cut at ``cuts`` of the run's windows of ``n_sessions`` sessions."""
    from chainlens.pipeline import PipelineConfig
    from chainlens.runners._blocks import merge_blocks
    from chainlens.runners.local import iter_windows
    from chainlens.scan._store_scans import unusual_block_flows, unusual_from_flows

    with Store(root, read_only=True) as st:
        names = st.underlyings(d)
        windows = list(iter_windows(st, d, names, PipelineConfig(n_sessions=n_sessions)))
        blocks = []
        edges = [0, *cuts, len(names)]
        for a, b in zip(edges, edges[1:], strict=False):  # a loop over blocks
            ws = windows[a:b]
            flows = unusual_block_flows(
                names[a:b], [w.history for w in ws], [w.trades for w in ws], d
            )
            assert flows is not None
            blocks.append({"f": flows})
        return unusual_from_flows(st, d, merge_blocks(blocks)["f"], settings=EVERY)


@pytest.mark.parametrize("n_sessions", [2, 5])
def test_unusual_from_block_flows_equal_reference(
    demo_store: tuple[Path, list[dt.date]],
    staggered_store: tuple[Path, list[dt.date]],
    n_sessions: int,
) -> None:
    """The unusual scanner combined from the run blocks' daily flows (the sessions before the
    runs' windows read from the chain) gives the rows of the per-underlying reference and of
    :func:`store_scan`, on the demo and the staggered market, whatever the cuts."""
    n = 0
    for root, days, cut_sets in (
        (*demo_store, [[], [1, 2, 7], list(range(1, 12))]),
        (*staggered_store, [[], [4, 5, 6, 7]]),
    ):
        for d in days[1:]:
            with Store(root, read_only=True) as st:
                ref = store_scan_per_underlying(st, "unusual", d, settings=EVERY)
                assert_same(ref, store_scan(st, "unusual", d, settings=EVERY), f"store_scan {d}")
            n += ref.num_rows
            for cuts in cut_sets:
                got = _unusual_from_window_blocks(root, d, cuts, n_sessions)
                assert got is not None
                if ref.num_rows or got.num_rows:
                    assert_same(ref, got, f"unusual {root.name} {d} cuts={cuts} n={n_sessions}")
    assert n > 0


def test_run_stores_unusual_from_block_flows(
    demo_store: tuple[Path, list[dt.date]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chainlens run`` (several in-process blocks) stores the ``scan_unusual`` part of
    ``scan_parts`` without scanning the store's session (it combines its blocks' flows), and
    a run of some names only scans in the parent, as before."""
    import shutil

    from chainlens.results import RESULTS_NAME
    from chainlens.runners import _blocks, local
    from chainlens.scan import _stored
    from chainlens.scan._stored import scan_parts

    src, days = demo_store
    root = tmp_path / "store"
    shutil.copytree(src, root)
    d = days[-1]
    monkeypatch.setattr(local, "BLOCK_MAX", 5)
    monkeypatch.setattr(_blocks, "BLOCK_MAX", 5)
    with Store(root) as st:
        ref = scan_parts(st, d)["scan_unusual"]

        def boom(*a: object, **k: object) -> object:
            raise AssertionError("the parent scanned the session")

        with monkeypatch.context() as mp:
            mp.setattr(_stored, "store_scan", boom)
            out = local.run_local(st, d, workers=1)
        assert out["failed"] == [] and ref.num_rows
        assert "_unusual_flows" not in out["parts"]
        assert_same(ref, st.read_results(RESULTS_NAME, d, "scan_unusual"), "scan_unusual")
        calls: list[object] = []
        real = _stored.store_scan

        def spy(*a: object, **k: object) -> object:
            calls.append(a[1])
            return real(*a, **k)  # type: ignore[arg-type]

        with monkeypatch.context() as mp:
            mp.setattr(_stored, "store_scan", spy)
            local.run_local(st, d, st.underlyings(d)[:3], workers=1)
        assert "unusual" in calls


def test_pooled_run_with_a_block_without_unusual_flows_stores_the_same_scans(
    demo_store: tuple[Path, list[dt.date]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pooled run (2 workers, several blocks) where one block hands back no unusual-scanner
    flows (as when :func:`unusual_block_flows` cannot give them for its windows) falls back
    to the whole-session scan in the parent, and stores the same scanner parts
    (``scan_unusual``, ``scan_netdelta``, ``scan_netdelta_daily``) as a pooled run where every
    block has them (which never scans the session in the parent)."""
    import shutil

    from chainlens.results import RESULTS_NAME
    from chainlens.runners import local
    from chainlens.scan import _stored
    from chainlens.scan._store_scans import UNUSUAL_FLOWS

    src, days = demo_store
    d = days[-1]
    monkeypatch.setattr(local, "BLOCK_MAX", 4)  # several blocks
    real_scan, real_merge = _stored.store_scan, local.merge_blocks
    got: dict[str, dict[str, pa.Table]] = {}
    for label in ("every block", "one block without"):
        root = tmp_path / label.replace(" ", "_") / "store"
        shutil.copytree(src, root)
        calls: list[object] = []
        dropped: list[int] = []

        def spy(*a: object, calls: list[object] = calls, **k: object) -> object:
            calls.append(a[1])
            return real_scan(*a, **k)  # type: ignore[arg-type]

        def merge(
            blocks: list[dict[str, pa.Table]],
            drop: bool = label != "every block",
            dropped: list[int] = dropped,
        ) -> object:
            assert len(blocks) > 1 and all(UNUSUAL_FLOWS in b for b in blocks)
            if drop:  # the parent's view of a block whose worker gave no flows
                k = len(blocks) // 2
                blocks[k].pop(UNUSUAL_FLOWS)
                dropped.append(k)
            return real_merge(blocks)

        with monkeypatch.context() as mp, Store(root) as st:
            mp.setattr(_stored, "store_scan", spy)
            mp.setattr(local, "merge_blocks", merge)
            out = local.run_local(st, d, workers=2)
            assert out["failed"] == [] and out["workers"] == 2
            got[label] = {
                p: st.read_results(RESULTS_NAME, d, p)
                for p in ("scan_unusual", "scan_netdelta", "scan_netdelta_daily")
                if p in out["parts"]
            }
        # the whole-session unusual scan ran in the parent exactly when a block lacked flows
        assert ("unusual" in calls) == bool(dropped), (label, calls)
    ref, alt = got["every block"], got["one block without"]
    assert "scan_unusual" in ref and ref["scan_unusual"].num_rows
    assert sorted(ref) == sorted(alt)
    for p in ref:
        assert_same(ref[p], alt[p], p)


def test_block_hands_its_flow_tags_to_the_netdelta_step(
    demo_store: tuple[Path, list[dt.date]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``analyze_underlyings(..., enriched=)`` gives each window's trades as
    :func:`chainlens.flow.enrich_trades` tags them; a run block with a net-delta task hands
    those to the scanner (no side classification of the session's trades) and its parts equal
    those of :func:`netdelta_scan`; a block under other side rules classifies again."""
    import dataclasses

    from chainlens.flow import FlowConfig, enrich_trades
    from chainlens.pipeline import PipelineConfig, analyze_underlyings
    from chainlens.runners import _blocks
    from chainlens.runners.local import iter_windows
    from chainlens.scan import _store_scans
    from chainlens.scan._store_scans import netdelta_scan, netdelta_task
    from chainlens.scan._stored import netdelta_parts

    root, days = demo_store
    d = days[-1]
    with Store(root, read_only=True) as st:
        names = st.underlyings(d)
        windows = list(iter_windows(st, d, names, PipelineConfig()))
        task = netdelta_task(st, d)
        ref = netdelta_parts(*netdelta_scan(st, d), d)
    got: list[pa.Table | None] = []
    analyze_underlyings(windows[:5], PipelineConfig(), enriched=got)
    assert len(got) == 5
    for w, e in zip(windows[:5], got, strict=True):
        if w.trades.num_rows:
            assert e is not None and e.equals(enrich_trades(w.trades, FlowConfig()))
    calls: list[dt.date] = []  # the sessions the scanner classified itself
    real = _store_scans._signed

    def spy(t: pa.Table) -> pa.Table:
        calls.extend(pc.unique(t.column("trade_date")).to_pylist())
        return real(t)

    monkeypatch.setattr(_store_scans, "_signed", spy)
    out = _blocks.analyze_block(windows, PipelineConfig(), chunk_max=5, netdelta=task)
    assert out.netdelta and calls and d not in calls  # past sessions: no stored part
    for part, t in ref.items():
        assert_same(t, out.parts[part], part)
    other = PipelineConfig(flow=dataclasses.replace(FlowConfig(), buy_threshold=0.9))
    assert not _blocks._default_sides(other, task)
    assert _blocks._default_sides(PipelineConfig(flow=FlowConfig()), task)
