"""Model gamma against Cboe's own gamma on full SPX quote-table snapshots (real files).

The files are read here with the ``csv`` module, independently of the ingest adapters.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from chainlens import conventions, pricing

pytestmark = pytest.mark.realdata

# file, snapshot instant (the download time in the file name, ET -> UTC, EDT = UTC-4)
FILES = [
    (
        "SPX_2023-09-14_1631ET__carlosjimenezdiaz.csv",
        dt.datetime(2023, 9, 14, 20, 31, tzinfo=dt.UTC),
    ),
    ("SPX_2023-04-05_1941ET__ayour.csv", dt.datetime(2023, 4, 5, 23, 41, tzinfo=dt.UTC)),
]


def read_cboe_quote_table(path: Path) -> dict[str, np.ndarray | float]:
    """Minimal reader of a Cboe delayed-quote CSV: spot, then call|strike|put fields per row."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    spot = float(next(c for c in rows[1] if c.strip().startswith("Last:")).split(":")[1])
    out: dict[str, list] = {k: [] for k in ("expiry", "root", "strike", "is_call", "bid", "ask",
                                             "iv", "delta", "gamma", "oi")}  # fmt: skip
    for r in rows[4:]:
        if len(r) < 22 or not r[0].strip():
            continue
        expiry = dt.datetime.strptime(r[0].strip(), "%a %b %d %Y").date()
        strike = float(r[11])
        for is_call, (sym, bid, ask, iv, de, ga, oi) in (
            (True, (r[1], r[4], r[5], r[7], r[8], r[9], r[10])),
            (False, (r[12], r[15], r[16], r[18], r[19], r[20], r[21])),
        ):
            out["expiry"].append(expiry)
            out["root"].append(sym.strip()[:-15])
            out["strike"].append(strike)
            out["is_call"].append(is_call)
            for k, v in (("bid", bid), ("ask", ask), ("iv", iv), ("delta", de), ("gamma", ga),
                         ("oi", oi)):  # fmt: skip
                out[k].append(float(v))
    res: dict[str, np.ndarray | float] = {k: np.asarray(v) for k, v in out.items()}
    res["spot"] = spot
    return res


@pytest.mark.parametrize(("name", "snap"), FILES)
def test_model_gamma_vs_cboe(cboe_dir: Path, name: str, snap: dt.datetime) -> None:
    path = cboe_dir / "SPX" / name
    if not path.exists():
        pytest.skip(f"{path} absent")
    d = read_cboe_quote_table(path)
    S = float(d["spot"])
    root = d["root"]
    settlement = np.where(np.isin(root, sorted(conventions.AM_SETTLED_ROOTS)), "AM", "PM")
    t = pricing.time_to_expiry(snap, d["expiry"], settlement)
    live = t > 0
    r = conventions.DEFAULT_RATE
    fw = pricing.implied_forwards(
        d["expiry"][live], d["strike"][live], d["is_call"][live], d["bid"][live],
        d["ask"][live], S, t[live], r,
    )  # fmt: skip
    f_exp = fw["expiry"].to_numpy().astype("datetime64[D]")
    q_exp = fw["carry_q"].to_numpy()
    e = np.asarray(d["expiry"]).astype("datetime64[D]")
    q = np.full(e.size, np.nan)
    pos = np.searchsorted(f_exp, e[live])
    q[live] = q_exp[np.minimum(pos, f_exp.size - 1)]
    sel = live & (d["oi"] > 0) & (np.abs(d["delta"]) > 0.05) & (np.abs(d["delta"]) < 0.95)
    sel &= (d["iv"] > 0) & (d["gamma"] > 0)
    g = pricing.gamma(S, d["strike"][sel], t[sel], r, q[sel], d["iv"][sel], d["is_call"][sel])
    cg = d["gamma"][sel]
    rel = g / cg - 1.0
    # Cboe prints gamma to 4 decimals (SPX gammas are ~1e-3): the rounding alone is ~5%.
    within = float(np.mean(np.abs(g - cg) <= 1e-4))
    med = float(np.median(np.abs(rel)))
    print(
        f"\n{name}: {sel.sum()} contracts, spot {S}, median |rel diff| {med:.2%}, "
        f"median signed {np.median(rel):+.2%}, parity expiries "
        f"{(fw['method'].to_numpy(zero_copy_only=False) == 'parity').sum()}/{fw.num_rows}, "
        f"within one unit of the 4th decimal {within:.1%}"
    )
    assert sel.sum() > 500
    assert med < 0.05
    assert within > 0.9
