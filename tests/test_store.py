"""The store: snapshots, default rule, OI merge, history, results, cleanup, locking.

Expected values are built by hand from the tables the tests write (never from earlier output).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens import schema
from chainlens.errors import InputError, NotFoundError, StoreError
from chainlens.store import Store

D1, D2, D3 = dt.date(2023, 9, 13), dt.date(2023, 9, 14), dt.date(2023, 9, 15)
EXP = dt.date(2023, 9, 29)


def utc(d: dt.date, h: int, m: int = 0) -> dt.datetime:
    return dt.datetime(d.year, d.month, d.day, h, m, tzinfo=dt.UTC)


def chain_table(
    underlying: str,
    day: dt.date,
    ts: dt.datetime,
    strikes: list[float],
    *,
    oi: list[int | None] | None = None,
    volume: list[int | None] | None = None,
    quotes: bool = True,
) -> pa.Table:
    """A canonical chain: one call and one put per strike (calls first, then puts)."""
    n = len(strikes)
    rights = ["C"] * n + ["P"] * n
    ks = list(strikes) * 2
    syms = [
        f"{underlying}{EXP:%y%m%d}{r}{round(k * 1000):08d}" for r, k in zip(rights, ks, strict=True)
    ]
    m = 2 * n
    oi = oi if oi is not None else list(range(10, 10 * m + 1, 10))
    volume = volume if volume is not None else list(range(1, m + 1))
    return schema.conform(
        pa.table(
            {
                "trade_date": pa.array([day] * m, pa.date32()),
                "snapshot_ts": pa.array([ts] * m, pa.timestamp("ns", tz="UTC")),
                "underlying": [underlying] * m,
                "root": [underlying] * m,
                "symbol": syms,
                "expiry": pa.array([EXP] * m, pa.date32()),
                "settlement": ["PM"] * m,
                "strike": ks,
                "right": rights,
                "multiplier": pa.array([100] * m, pa.int32()),
                "bid": [1.0] * m if quotes else [None] * m,
                "ask": [1.2] * m if quotes else [None] * m,
                "volume": pa.array(volume if quotes else [None] * m, pa.int64()),
                "open_interest": pa.array(oi, pa.int64()),
                "spot": [100.0] * m,
            }
        ),
        schema.CHAIN,
    )


def by_contract(t: pa.Table) -> dict[str, dict]:
    return {r["symbol"]: r for r in t.to_pylist()}


@pytest.fixture
def store(store_dir: Path):
    with Store(store_dir) as st:
        yield st


def test_roundtrip_chain_is_sorted_and_canonical(store: Store) -> None:
    t = chain_table("SPY", D1, utc(D1, 20), [102.0, 100.0, 101.0])
    store.add_tables({"chain": t}, source="test")
    out = store.chain("SPY", D1)
    assert out.schema == schema.CHAIN
    assert out.num_rows == 6
    # sorted by expiry, strike, right: hand-written expected order
    assert list(zip(out["strike"].to_pylist(), out["right"].to_pylist(), strict=True)) == [
        (100.0, "C"), (100.0, "P"), (101.0, "C"), (101.0, "P"), (102.0, "C"), (102.0, "P"),
    ]  # fmt: skip
    assert by_contract(out) == by_contract(t)


def test_multi_underlying_multi_session_file_is_split(store: Store) -> None:
    t = pa.concat_tables(
        [
            chain_table("SPY", D1, utc(D1, 20), [100.0]),
            chain_table("QQQ", D1, utc(D1, 20), [300.0, 310.0]),
            chain_table("SPY", D2, utc(D2, 20), [100.0, 105.0]),
        ]
    )
    store.add_tables({"chain": t}, source="mixed")
    assert store.underlyings() == ["QQQ", "SPY"]
    assert store.underlyings(D2) == ["SPY"]
    assert store.session_dates("SPY") == [D1, D2]
    assert store.session_dates("QQQ") == [D1]
    s = store.sessions()
    assert s.column_names[:4] == ["underlying", "session", "snapshot_ts", "contracts"]
    assert list(
        zip(
            s["underlying"].to_pylist(),
            s["session"].to_pylist(),
            s["contracts"].to_pylist(),
            strict=True,
        )
    ) == [
        ("QQQ", D1, 4),
        ("SPY", D1, 2),
        ("SPY", D2, 4),
    ]
    assert store.chain("QQQ", D1).num_rows == 4
    assert (store.root / "chain" / f"trade_date={D2.isoformat()}").is_dir()


def test_default_snapshot_is_latest_and_all_snapshots_kept(store: Store) -> None:
    intraday = chain_table("SPY", D1, utc(D1, 17), [100.0], oi=[1, 2])
    close = chain_table("SPY", D1, utc(D1, 20, 15), [100.0], oi=[3, 4])
    # ingested in the "wrong" order: the default still follows snapshot_ts, not ingest order
    store.add_tables({"chain": close}, source="close")
    store.add_tables({"chain": intraday}, source="intraday")
    assert store.chain("SPY", D1)["open_interest"].to_pylist() == [3, 4]
    both = store.chain("SPY", D1, snapshot="all")
    assert both.num_rows == 4
    assert both["open_interest"].to_pylist() == [1, 2, 3, 4]  # by snapshot_ts
    s = store.sessions("SPY")
    assert s["default"].to_pylist() == [False, True]
    first_id = s["snapshot_id"][0].as_py()
    assert store.chain("SPY", D1, snapshot=first_id)["open_interest"].to_pylist() == [1, 2]
    assert store.chain("SPY", D1, snapshot=utc(D1, 17))["open_interest"].to_pylist() == [1, 2]
    with pytest.raises(NotFoundError):
        store.chain("SPY", D1, snapshot=utc(D1, 18))


def test_same_timestamp_twice_takes_last_ingested(store: Store) -> None:
    store.add_tables({"chain": chain_table("SPY", D1, utc(D1, 20), [100.0], oi=[1, 1])}, source="a")
    store.add_tables({"chain": chain_table("SPY", D1, utc(D1, 20), [100.0], oi=[2, 2])}, source="b")
    assert store.chain("SPY", D1)["open_interest"].to_pylist() == [2, 2]


def test_oi_only_snapshot_fills_missing_oi(store: Store) -> None:
    # quote snapshot: OI known for the 100 call only; OCC OI-only snapshot for every contract
    quotes = chain_table("SPY", D1, utc(D1, 20), [100.0, 101.0], oi=[7, None, None, None])
    occ = chain_table(
        "SPY", D1, utc(D1, 12), [100.0, 101.0, 102.0], oi=[70, 80, 90, 40, 50, 60], quotes=False
    )
    store.add_tables({"chain": quotes}, source="cboe")
    store.add_tables({"chain": occ}, source="occ")
    kinds = dict(
        zip(
            store.sessions()["kind"].to_pylist(),
            store.sessions()["default"].to_pylist(),
            strict=True,
        )
    )
    assert kinds == {"oi_only": False, "quotes": True}
    out = by_contract(store.chain("SPY", D1))
    assert len(out) == 4  # the quote snapshot's contracts only
    assert out["SPY230929C00100000"]["open_interest"] == 7  # own value kept
    assert out["SPY230929C00101000"]["open_interest"] == 80  # filled from OCC
    assert out["SPY230929P00100000"]["open_interest"] == 40
    assert out["SPY230929P00101000"]["open_interest"] == 50
    assert out["SPY230929C00101000"]["bid"] == 1.0  # quotes from the quote snapshot


def test_oi_only_session_returns_the_oi_snapshot(store: Store) -> None:
    occ = chain_table("SPY", D2, utc(D2, 12), [100.0], oi=[5, 6], quotes=False)
    store.add_tables({"chain": occ}, source="occ")
    out = store.chain("SPY", D2)
    assert out["open_interest"].to_pylist() == [5, 6]
    assert out["volume"].null_count == 2


def test_history_window_and_oi_history(store: Store) -> None:
    for i, d in enumerate((D1, D2, D3)):
        store.add_tables(
            {
                "chain": chain_table(
                    "SPY", d, utc(d, 20), [100.0, 101.0], oi=[i, 10 + i, 20 + i, 30 + i]
                )
            },
            source=str(d),
        )
    h = store.chain_history("SPY", end=D3, n_sessions=2)
    assert sorted(set(h["trade_date"].to_pylist())) == [D2, D3]
    assert h.schema == schema.CHAIN
    assert store.chain_history("SPY", end=D2, start=D2).num_rows == 4
    assert store.chain_history("SPY", end=dt.date(2023, 1, 1)).num_rows == 0
    oi = store.oi_history("SPY", symbols=["SPY230929C00101000"])
    assert oi.column_names == ["trade_date", "symbol", "open_interest", "volume"]
    assert oi["trade_date"].to_pylist() == [D1, D2, D3]
    assert oi["open_interest"].to_pylist() == [10, 11, 12]
    assert store.oi_history("SPY", start=D2, end=D2).num_rows == 4


def test_not_found_errors_carry_hint(store: Store) -> None:
    with pytest.raises(NotFoundError) as e:
        store.chain("SPY", D1)
    assert "chainlens sessions" in str(e.value)
    store.add_tables({"chain": chain_table("SPY", D1, utc(D1, 20), [100.0])}, source="x")
    with pytest.raises(NotFoundError, match="2023-09-13"):
        store.chain("SPY", D2)
    with pytest.raises(NotFoundError):
        store.read_results("flow", D1, "summary")


def test_other_tables_roundtrip(store: Store) -> None:
    ts = pa.array([utc(D1, 14), utc(D1, 15), utc(D2, 14)], pa.timestamp("ns", tz="UTC"))
    trades = pa.table(
        {
            "ts": ts,
            "trade_date": pa.array([D1, D1, D2], pa.date32()),
            "underlying": ["SPY", "QQQ", "SPY"],
            "root": ["SPY", "QQQ", "SPY"],
            "symbol": ["SPY230929C00100000", "QQQ230929C00300000", "SPY230929C00100000"],
            "expiry": pa.array([EXP] * 3, pa.date32()),
            "settlement": ["PM"] * 3,
            "strike": [100.0, 300.0, 100.0],
            "right": ["C"] * 3,
            "multiplier": pa.array([100] * 3, pa.int32()),
            "price": [1.1, 2.2, 3.3],
            "size": [5, 6, 7],
        }
    )
    prints = pa.table(
        {
            "ts": ts,
            "trade_date": pa.array([D1, D1, D2], pa.date32()),
            "ticker": ["SPY", "AAPL", "SPY"],
            "price": [440.0, 180.0, 441.0],
            "size": [10_000, 5_000, 20_000],
        }
    )
    bars = pa.table(
        {
            "trade_date": pa.array([D1, D2], pa.date32()),
            "ticker": ["SPY", "SPY"],
            "close": [440.0, 441.0],
        }
    )
    events = pa.table({"date": pa.array([D2], pa.date32()), "ticker": ["*"], "kind": ["CPI"]})
    sectors = pa.table({"ticker": ["AAPL"], "sector": ["Technology"]})
    store.add_tables(
        {"trades": trades, "prints": prints, "bars": bars, "events": events, "sectors": sectors},
        source="misc",
    )
    t = store.trades("SPY", D1)
    assert t.schema == schema.TRADES and t["price"].to_pylist() == [1.1]
    assert store.trades("SPY", D3).num_rows == 0
    assert store.prints("AAPL", D1)["size"].to_pylist() == [5_000]
    assert store.prints(None, D1).num_rows == 2
    assert store.table("bars", D2)["close"].to_pylist() == [441.0]
    assert store.table("bars").num_rows == 2
    assert store.table("events", D2)["kind"].to_pylist() == ["CPI"]
    assert store.table("events", D1).num_rows == 0
    assert store.table("sectors")["sector"].to_pylist() == ["Technology"]
    with pytest.raises(InputError):
        store.table("chain")


def test_write_results_replaces_atomically(store: Store) -> None:
    a = pa.table({"underlying": ["SPY", "QQQ", "IWM"], "gex_usd_per_1pct": [1.0, 2.0, 3.0]})
    store.write_results(
        "exposure", D1, {"summary": a, "levels": pa.table({"underlying": ["SPY"], "k": [1]})}
    )
    assert store.read_results("exposure", D1, "summary", underlying="QQQ")[
        "gex_usd_per_1pct"
    ].to_pylist() == [2.0]
    assert store.read_results("exposure", D1, "summary").num_rows == 3
    files_before = sorted((store.root / "results").rglob("*.parquet"))
    assert len(files_before) == 2
    b = pa.table({"underlying": ["SPY"], "gex_usd_per_1pct": [9.0]})
    store.write_results("exposure", D1, {"summary": b})
    assert store.read_results("exposure", D1, "summary")["gex_usd_per_1pct"].to_pylist() == [9.0]
    with pytest.raises(NotFoundError):
        store.read_results("exposure", D1, "levels")  # dropped by the replacement
    files_after = sorted((store.root / "results").rglob("*.parquet"))
    assert len(files_after) == 1 and files_after[0] not in files_before
    with pytest.raises(InputError):
        store.write_results("../evil", D1, {"x": b})


def test_add_tables_bad_table_leaves_store_unchanged(store: Store) -> None:
    store.add_tables({"chain": chain_table("SPY", D1, utc(D1, 20), [100.0])}, source="ok")
    before = sorted(
        p.relative_to(store.root)
        for p in store.root.rglob("*")
        if p.is_file() and "catalog" not in p.name
    )
    bad = pa.table({"trade_date": pa.array([D2], pa.date32())})  # required columns missing
    with pytest.raises(InputError, match="does not conform"):
        store.add_tables(
            {"chain": chain_table("SPY", D2, utc(D2, 20), [100.0]), "trades": bad}, source="bad"
        )
    after = sorted(
        p.relative_to(store.root)
        for p in store.root.rglob("*")
        if p.is_file() and "catalog" not in p.name
    )
    assert before == after
    assert store.session_dates() == [D1]


def test_reopen_cleans_orphans_and_keeps_data(store_dir: Path) -> None:
    with Store(store_dir) as st:
        st.add_tables({"chain": chain_table("SPY", D1, utc(D1, 20), [100.0])}, source="ok")
    orphan = store_dir / "chain" / "trade_date=2023-09-20" / "deadbeef.parquet"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"junk")
    (store_dir / "tmp" / "abc").mkdir(parents=True)
    (store_dir / "tmp" / "abc" / "x.parquet").write_bytes(b"junk")
    with Store(store_dir, read_only=True) as ro:  # readers never clean
        assert orphan.exists()
        assert ro.chain("SPY", D1).num_rows == 2
        with pytest.raises(StoreError, match="read-only"):
            ro.add_tables({"chain": chain_table("SPY", D2, utc(D2, 20), [100.0])}, source="x")
    with Store(store_dir) as st:
        assert not orphan.exists() and not orphan.parent.exists()
        assert not any((store_dir / "tmp").iterdir())
        assert st.chain("SPY", D1).num_rows == 2


def test_missing_store_not_created_when_asked(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no chainlens store"):
        Store(tmp_path / "nope", create=False)
    with pytest.raises(NotFoundError):
        Store(tmp_path / "nope", read_only=True)
    assert not (tmp_path / "nope").exists()


def test_second_process_gets_store_is_busy(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINLENS_LOCK_TIMEOUT", "0.5")  # the bounded wait, kept short
    Store(store_dir).close()
    holder = textwrap.dedent(
        f"""
        import sys, time
        from chainlens.store import Store
        st = Store({str(store_dir)!r})
        print("ready", flush=True)
        sys.stdin.readline()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="store is busy"):
            Store(store_dir)
    finally:
        proc.communicate("\n", timeout=30)


def test_many_underlyings_prune_and_match_reference(store: Store) -> None:
    """Vectorised path vs a plain per-underlying filter of the input (the reference)."""
    rng = np.random.default_rng(7)
    tickers = [f"T{i:03d}" for i in range(60)]
    parts = [
        chain_table(
            u, D1, utc(D1, 20), sorted(rng.choice(200, 30, replace=False).astype(float) + 1)
        )
        for u in tickers
    ]
    big = pa.concat_tables(parts)
    big = big.take(pa.array(rng.permutation(big.num_rows)))
    store.add_tables({"chain": big}, source="big")
    for u in ("T000", "T031", "T059"):
        ref = big.filter(pc.equal(big["underlying"], u))
        assert by_contract(store.chain(u, D1)) == by_contract(ref)
