"""A tiny hand-built store whose every figure is worked by hand (shared by the pipeline, report
and market tests; no tests here).

Underlying TST, spot 100 on 2024-03-04 and 102 on 2024-03-05, one PM expiry 2024-03-08, strikes
95/100/105. Underlying NOTR: one session (2024-03-05), chain only (no trades, no prints).

Hand-worked values (session 2024-03-05):

* trades: C100 2.20 at the ask x10 = $2,200 bought; P100 1.90 at the bid x20 = $3,800 sold;
  C105 0.50 at the bid x30 = $1,500 sold; P95 0.60 at mid (x = 0.5) x10 = $600 mid.
  Bullish = 2,200 + 3,800 = 6,000; bearish = 1,500; net = +4,500; total = 8,100.
  Call premium 3,700 < put premium 4,400: naive bearish, side-adjusted bullish: a flip.
  Unknown share = 600 / 8,100.
* chain volume: calls 0 + 10 + 30 = 40, puts 10 + 20 + 0 = 30: P/C volume 0.75 (band 0.7_1.2).
* OI(2024-03-05): calls 100/300/200 = 600, puts 400/500/100 = 1,000: P/C OI 1.6667 (1.2_2.0).
* OI change attributed to 2024-03-04 = OI(03-05) − OI(03-04): C100 +50, C105 +50, P100 +50.
* max pain 2024-03-08: pain(95) = 500·5 + 100·10 = 3,500; pain(100) = 100·5 + 100·5 = 1,000;
  pain(105) = 100·10 + 300·5 = 2,500 → 100; spot 2% above it.
* prior zone (set 2024-03-04): ATM 100, straddle (2.0+2.2)/2 + (1.9+2.1)/2 = 4.1 →
  [95.9, 104.1]; close 102 → upside room (104.1/102 − 1)·100 = 2.0588 %, downside
  (95.9/102 − 1)·100 = −5.9804 %, status upper_half.
* dark pool: 100 @ 102.10 at the ask, 50 @ 102.00 at the bid: net 10,210 − 5,100 = +5,110,
  imbalance 0.334 → accumulation, confidence 1.
* bars closes 100, 101, 100, 102 (02-29 .. 03-05).
* earnings: next 2024-03-07 (after close); past 2024-03-01 before open → |101/100 − 1| = 1 %,
  2024-03-04 after close → |102/100 − 1| = 2 %; mean historical move 1.5 %.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

D1 = dt.date(2024, 3, 4)
D2 = dt.date(2024, 3, 5)
EXP = dt.date(2024, 3, 8)
UTC = dt.UTC

# strike, right -> (bid, ask) per session, vendor delta, gamma
_Q = {
    (95.0, "C"): ((5.8, 6.2), (7.6, 8.0), 0.8, 0.03),
    (100.0, "C"): ((2.0, 2.2), (3.2, 3.4), 0.5, 0.05),
    (105.0, "C"): ((0.5, 0.7), (0.9, 1.1), 0.2, 0.03),
    (95.0, "P"): ((0.5, 0.7), (0.3, 0.5), -0.2, 0.03),
    (100.0, "P"): ((1.9, 2.1), (1.3, 1.5), -0.5, 0.05),
    (105.0, "P"): ((5.6, 6.0), (3.9, 4.3), -0.8, 0.03),
}
_OI = {
    D1: {(95.0, "C"): 100, (100.0, "C"): 250, (105.0, "C"): 150, (95.0, "P"): 400, (100.0, "P"): 450, (105.0, "P"): 100},
    D2: {(95.0, "C"): 100, (100.0, "C"): 300, (105.0, "C"): 200, (95.0, "P"): 400, (100.0, "P"): 500, (105.0, "P"): 100},
}  # fmt: skip
_VOL = {
    D1: {k: 5 for k in _Q},
    D2: {(95.0, "C"): 0, (100.0, "C"): 10, (105.0, "C"): 30, (95.0, "P"): 10, (100.0, "P"): 20, (105.0, "P"): 0},
}  # fmt: skip
SPOT = {D1: 100.0, D2: 102.0}


def osi(u: str, k: float, r: str) -> str:
    return f"{u}{EXP:%y%m%d}{r}{int(round(k * 1000)):08d}"


def _chain(u: str, days: list[dt.date]) -> pa.Table:
    rows = []
    for i, d in enumerate(days):
        for (k, r), (q1, q2, delta, gamma) in _Q.items():
            bid, ask = (q1 if d == D1 else q2) if u == "TST" else q2
            rows.append(
                {
                    "trade_date": d,
                    "snapshot_ts": dt.datetime(d.year, d.month, d.day, 21, 0, tzinfo=UTC),
                    "underlying": u,
                    "root": u,
                    "symbol": osi(u, k, r),
                    "expiry": EXP,
                    "settlement": "PM",
                    "strike": k,
                    "right": r,
                    "multiplier": 100,
                    "bid": bid,
                    "ask": ask,
                    "last": (bid + ask) / 2,
                    "volume": _VOL[d][(k, r)],
                    "open_interest": _OI[d][(k, r)],
                    "iv": 0.2,
                    "delta": delta,
                    "gamma": gamma,
                    "spot": SPOT[d],
                    "crossed": False,
                }  # fmt: skip
            )
        del i
    return pa.Table.from_pylist(rows)


def _trades() -> pa.Table:
    spec = [  # strike, right, price, size, bid, ask
        (100.0, "C", 2.2, 10, 3.2 - 1.2, 2.2),
        (100.0, "P", 1.9, 20, 1.9, 2.1),
        (105.0, "C", 0.5, 30, 0.5, 0.7),
        (95.0, "P", 0.6, 10, 0.5, 0.7),
    ]
    rows = []
    for i, (k, r, p, q, b, a) in enumerate(spec):
        rows.append(
            {
                "ts": dt.datetime(2024, 3, 5, 15 + i, 0, tzinfo=UTC),
                "trade_date": D2,
                "underlying": "TST",
                "root": "TST",
                "symbol": osi("TST", k, r),
                "expiry": EXP,
                "settlement": "PM",
                "strike": k,
                "right": r,
                "multiplier": 100,
                "price": p,
                "size": q,
                "bid": b,
                "ask": a,
                "exchange": "CBOE",
                "condition": "",
                "spot": 102.0,
                "trade_id": i + 1,
            }  # fmt: skip
        )
    return pa.Table.from_pylist(rows)


def _prints() -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"ts": dt.datetime(2024, 3, 5, 15, 30, tzinfo=UTC), "trade_date": D2, "ticker": "TST",
             "price": 102.1, "size": 100, "bid": 102.0, "ask": 102.1, "venue": "TRF"},
            {"ts": dt.datetime(2024, 3, 5, 16, 30, tzinfo=UTC), "trade_date": D2, "ticker": "TST",
             "price": 102.0, "size": 50, "bid": 102.0, "ask": 102.1, "venue": "TRF"},
        ]
    )  # fmt: skip


def _bars() -> pa.Table:
    days = [dt.date(2024, 2, 29), dt.date(2024, 3, 1), D1, D2]
    closes = [100.0, 101.0, 100.0, 102.0]
    return pa.Table.from_pylist(
        [{"trade_date": d, "ticker": "TST", "open": c, "high": c, "low": c, "close": c, "volume": 1000}
         for d, c in zip(days, closes, strict=True)]
    )  # fmt: skip


def build_tiny_store(root: Path) -> Path:
    """Write the hand-built store at ``root`` and return it."""
    from chainlens.schema import BARS, CHAIN, EVENTS, PRINTS, TRADES, conform
    from chainlens.store import Store

    events = pa.Table.from_pylist(
        [
            {
                "date": dt.date(2024, 3, 7),
                "ticker": "TST",
                "kind": "earnings",
                "note": "after close",
            },
            {
                "date": dt.date(2024, 3, 1),
                "ticker": "TST",
                "kind": "earnings",
                "note": "before open",
            },
            {"date": D1, "ticker": "TST", "kind": "Earnings", "note": "after close"},
        ]
    )
    with Store(root) as st:
        st.add_tables(
            {
                "chain": conform(
                    pa.concat_tables([_chain("TST", [D1, D2]), _chain("NOTR", [D2])]), CHAIN
                ),
                "trades": conform(_trades(), TRADES),
                "prints": conform(_prints(), PRINTS),
                "bars": conform(_bars(), BARS),
                "events": conform(events, EVENTS),
            },
            source="tiny-hand-built",
        )
    return root


def build_small_demo_store(tmp: Path) -> tuple[Path, list[dt.date]]:
    """The demo market (every scenario kind planted), smaller: 12 underlyings, 4 sessions,
    ingested into ``tmp / "store"`` with the last two sessions run (two-session streaks, so the
    accumulation part is written whatever the simulator's calibration does in four sessions).
    Returns the store root and the run sessions."""
    from chainlens.oi import OIConfig
    from chainlens.pipeline import PipelineConfig
    from chainlens.runners.local import run_local
    from chainlens.sim import build_demo_market
    from chainlens.store import Store

    m = build_demo_market(tmp / "sim", seed=7, underlyings=12, sessions=4)
    days = list(m.sessions[-2:])
    cfg = PipelineConfig(oi=OIConfig(streak_min_sessions=2))
    with Store(tmp / "store") as st:
        st.ingest_many(m.all_paths())
        for d in days:
            run_local(st, d, workers=1, config=cfg)
    return tmp / "store", days
