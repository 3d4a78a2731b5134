"""Measure the simulator's calibration targets from the real market files.

    .venv/bin/python scripts/measure_targets.py [--data DIR] [--json OUT]

Reads ``../shared/data`` (``chainlens.paths.shared_data_dir()``), never writes there. For every
full after-close snapshot (the Cboe quote tables that are not PARTIAL or intraday, the Cboe
delayed-quotes JSON payloads saved after the close, the Barchart SPX dailies, the DataShop VIX
EOD file) it computes the per-snapshot statistics of :func:`chainlens.sim._calib.chain_stats`
with the project's own analysis, then the path statistics of the Barchart SPX history, and
prints, per product class and statistic, n / min / median / max and the share of 1s for the
0/1 statistics. The ranges in :mod:`chainlens.sim._targets` were read off this output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa

from chainlens import schema
from chainlens.paths import shared_data_dir
from chainlens.sim._calib import (
    CHAIN_STATS,
    atm_iv,
    chain_stats,
    path_stats,
    product_class,
    window_path_stats,
)


def _table(rows: dict[str, list], snap: dt.datetime, day: dt.date) -> pa.Table:
    n = len(rows["strike"])
    cols = {
        "trade_date": pa.array([day] * n, pa.date32()),
        "snapshot_ts": pa.array([snap] * n, pa.timestamp("ns", tz="UTC")),
        "underlying": pa.array(rows["underlying"]),
        "root": pa.array(rows["root"]),
        "symbol": pa.array(rows["symbol"]),
        "expiry": pa.array(rows["expiry"], pa.date32()),
        "settlement": pa.array(rows["settlement"]),
        "strike": pa.array(rows["strike"], pa.float64()),
        "right": pa.array(rows["right"]),
        "multiplier": pa.array([100] * n, pa.int32()),
        "bid": pa.array(rows["bid"], pa.float64()),
        "ask": pa.array(rows["ask"], pa.float64()),
        "last": pa.array([None] * n, pa.float64()),
        "volume": pa.array(rows["volume"], pa.int64()),
        "open_interest": pa.array(rows["oi"], pa.int64()),
        "iv": pa.array(rows["iv"], pa.float64()),
        "delta": pa.array(rows["delta"], pa.float64()),
        "gamma": pa.array(rows["gamma"], pa.float64()),
        "spot": pa.array(rows["spot"], pa.float64()),
        "crossed": pa.array([False] * n),
    }
    return pa.Table.from_pydict(cols, schema=schema.CHAIN)


def _null0(x: float) -> float | None:
    return None if not x else float(x)


def cboe_json_chain(path: Path) -> pa.Table:
    """A Cboe delayed-quotes payload (current schema) as a canonical chain (IV/greeks 0 = null)."""
    d = json.loads(path.read_text())["data"]
    under = d["symbol"].lstrip("_")
    spot = float(d["current_price"])
    day = dt.date.fromisoformat(d["last_trade_time"][:10])
    rows: dict[str, list] = defaultdict(list)
    for o in d["options"]:
        sym = o["option"]
        tail = sym[-15:]
        root = sym[:-15]
        exp = dt.datetime.strptime(tail[:6], "%y%m%d").date()
        rows["underlying"].append(under)
        rows["root"].append(root)
        rows["symbol"].append(sym)
        rows["expiry"].append(exp)
        am = root == under and under in ("SPX", "RUT", "NDX")
        rows["settlement"].append("AM" if am else "PM")
        rows["strike"].append(int(tail[7:]) / 1000.0)
        rows["right"].append(tail[6])
        rows["bid"].append(float(o["bid"]))
        rows["ask"].append(float(o["ask"]))
        rows["volume"].append(int(o["volume"] or 0))
        rows["oi"].append(int(o["open_interest"] or 0))
        live = bool(o["iv"])
        rows["iv"].append(_null0(o["iv"]) if live else None)
        rows["delta"].append(float(o["delta"]) if live else None)
        rows["gamma"].append(float(o["gamma"]) if live else None)
        rows["spot"].append(spot)
    snap = dt.datetime(day.year, day.month, day.day, 20, 15, tzinfo=dt.UTC)
    return _table(rows, snap, day)


def barchart_chain(path: Path) -> tuple[pa.Table, float, float]:
    """A Barchart SPX daily (next 8 expiries) as a canonical chain; plus spot and the ATM IV
    (:func:`chainlens.sim._calib.atm_iv`, the expiry nearest 7 days)."""
    d = json.loads(path.read_text())
    spot = float(d["spot"])
    day = dt.date.fromisoformat(d["date"])
    rows: dict[str, list] = defaultdict(list)
    for exp_s, opts in d["expiries"].items():
        exp = dt.date.fromisoformat(exp_s)
        for o in opts:
            k = float(o["strikePrice"])
            right = "C" if o["optionType"] == "Call" else "P"
            ymd = exp.strftime("%y%m%d")
            rows["underlying"].append("SPX")
            rows["root"].append("SPXW")
            rows["symbol"].append(f"SPXW{ymd}{right}{int(round(k * 1000)):08d}")
            rows["expiry"].append(exp)
            rows["settlement"].append("PM")
            rows["strike"].append(k)
            rows["right"].append(right)
            rows["bid"].append(float(o["bidPrice"] or 0.0))
            rows["ask"].append(float(o["askPrice"] or 0.0))
            rows["volume"].append(int(o["volume"] or 0))
            rows["oi"].append(int(o["openInterest"] or 0))
            live = bool(o["volatility"])
            rows["iv"].append(float(o["volatility"]) if live else None)
            rows["delta"].append(float(o["delta"]) if live else None)
            rows["gamma"].append(float(o["gamma"]) if live else None)
            rows["spot"].append(spot)
    snap = dt.datetime(day.year, day.month, day.day, 21, 0, tzinfo=dt.UTC)
    t = _table(rows, snap, day)
    return t, spot, atm_iv(t)


def snapshot_files(data: Path) -> list[tuple[str, Path]]:
    """(source kind, path) of every full after-close snapshot used."""
    out: list[tuple[str, Path]] = []
    for p in sorted((data / "cboe_quotedata").glob("*/*.csv")):
        name = p.name
        if "PARTIAL" in name or "intraday" in name or name.startswith("SPX_2024-02-13"):
            continue  # partial chains, intraday, and the file without IV/greeks
        out.append(("cboe_csv", p))
    for p in sorted((data / "cboe_delayed_json").glob("*.json")):
        if "intraday" in p.name or "ALL-ZERO" in p.name or "OLD-SCHEMA" in p.name:
            continue
        out.append(("cboe_json", p))
    out.append(
        (
            "datashop",
            data / "cboe_datashop_vix_2016-06-01" / "UnderlyingOptionsEODCalcs_2016-06-01.csv",
        )
    )
    return out


def measure(data: Path) -> dict:
    """Every statistic per snapshot, and the summaries per product class."""
    from chainlens.io import read_chain

    per: list[dict] = []
    for kind, p in snapshot_files(data):
        t = read_chain(p) if kind in ("cboe_csv", "datashop") else cboe_json_chain(p)
        st = chain_stats(t)
        st["file"] = str(p.relative_to(data))
        st["class"] = product_class(st["underlying"])
        per.append(st)
    # the Barchart SPX history: chain statistics (8 expiries only) and the path
    closes, ivs, bc = [], [], []
    seen: set[float] = set()
    for p in sorted((data / "spx_daily_barchart").glob("SPX_*.json")):
        t, spot, iv = barchart_chain(p)
        day = dt.date.fromisoformat(p.stem[4:])
        if day.weekday() >= 5 or spot in seen:
            continue  # holiday saves repeat the previous session's close
        seen.add(spot)
        st = chain_stats(t)
        st["file"] = str(p.relative_to(data))
        st["class"] = "index_8exp"
        bc.append(st)
        closes.append(spot)
        ivs.append(iv)
    paths = path_stats(np.array(closes), np.array(ivs))
    paths["sessions"] = len(closes)
    win = window_path_stats(np.array(closes), np.array(ivs), 10)
    paths["windows_10"] = {
        k: {"min": float(np.nanmin(v)), "p10": float(np.nanpercentile(v, 10)),
            "median": float(np.nanmedian(v)), "p90": float(np.nanpercentile(v, 90)),
            "max": float(np.nanmax(v))}
        for k, v in win.items()
    }  # fmt: skip
    return {"snapshots": per, "barchart": bc, "paths_spx_barchart": paths}


def summarize(rows: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    by: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by[r["class"]].append(r)
        by[f"{r['class']}:{r['underlying']}"].append(r)
    for cls, rs in sorted(by.items()):
        out[cls] = {}
        for k in CHAIN_STATS:
            v = np.array([r[k] for r in rs], dtype=float)
            v = v[np.isfinite(v)]
            if v.size == 0:
                continue
            out[cls][k] = {
                "n": int(v.size),
                "min": float(v.min()),
                "median": float(np.median(v)),
                "max": float(v.max()),
                "mean": float(v.mean()),
                "abs_max": float(np.abs(v).max()),
            }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="write everything measured here")
    a = ap.parse_args(argv)
    data = a.data or shared_data_dir()
    if data is None or not Path(data).is_dir():
        print("no real data folder (../shared/data) found", file=sys.stderr)
        return 2
    res = measure(Path(data))
    summ = summarize(res["snapshots"] + res["barchart"])
    for cls, stats in summ.items():
        print(f"== {cls}")
        for k, s in stats.items():
            print(
                f"  {k:22s} n={s['n']:3d} min={s['min']:9.3f} med={s['median']:9.3f} "
                f"max={s['max']:9.3f} mean={s['mean']:9.3f}"
            )
    print("== SPX path (Barchart dailies)", json.dumps(res["paths_spx_barchart"]))
    if a.json:
        a.json.write_text(json.dumps({"summary": summ, **res}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
