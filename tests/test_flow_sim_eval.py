"""Evaluation of the OI detectors and the side classifiers against the simulator's ground truth.

Markets come from :func:`chainlens.sim.simulate_market` (12 underlyings x 10 sessions, 800
orders per underlying and session). The detectors read only the canonical Parquet outputs
(``chain-*.parquet``, ``trades-*.parquet``); the scores are recomputed here, independently of
the detectors, from ``scenarios.json`` and ``truth/trades-*.parquet``.

Seeds
-----
* **Tuning seeds** ``TUNING_SEEDS`` (101-104, 201-206, 401-406): the detection settings of
  :class:`chainlens.oi.OIConfig` were chosen looking at these only.
* **Evaluation seeds** ``EVAL_SEEDS`` (501-506): never looked at while tuning; the asserted
  targets (recall >= 90%, precision >= 80%) are computed on these. Seeds 301-306 were the
  previous evaluation seeds; the roll-confirmation and close-significance rules were written
  after their false positives had been described, so they are no longer unseen and are not
  asserted on (measured once with the final rules: rolls precision 12/14, closes 11/11,
  naked-close recall 5/6).

Protocol
--------
The scanners run as of every session D after the first (history = every snapshot up to D),
as a user running ``chainlens scan`` each day would. Detections are pooled over the as-of dates
and de-duplicated (accumulation: per contract; rolls: per (kind, from, to); closes: per
contract).

Recall (per planted scenario):

* ``accumulation`` (seed 002 case 1) and ``deep_otm_put_build`` (case 2, "put OI building
  ... across five sessions"): the planted contract is reported by the accumulation scanner.
* ``bullish_roll`` / ``bearish_roll``: a roll of the *same direction* with exactly the planted
  from- and to-contracts.
* ``naked_close``: a ``close`` of the planted contract.

Precision (per de-duplicated detection). A detection is **true** when it matches a planted
position of the same nature:

* accumulation: the contract was bought to open by a planted scenario over several sessions
  (``accumulation``, ``deep_otm_put_build``, ``earnings_ramp`` legs, or the far leg of a
  planted roll, which is a genuine multi-session OI build);
* roll: the exact planted pair with the planted direction (a planted near leg paired with a
  background contract is false);
* close: a planted ``naked_close`` contract or a planted position flushed without re-opening
  (``accumulation`` / ``earnings_ramp`` flush). A ``close`` of a planted roll's near leg is
  **false** (a roll mis-read as an exit).

Every detection on a contract no scenario touched is counted **false** (strict precision). The
simulator's background does contain organic position moves (e.g. single background block
orders that open or close hundreds of contracts at once); we do not excuse them, so the
precision reported is a lower bound. The number of background detections is reported beside it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chainlens import flow, oi

TUNING_SEEDS = (101, 102, 103, 104, 201, 202, 203, 204, 205, 206, 401, 402, 403, 404, 405, 406)
EVAL_SEEDS = (501, 502, 503, 504, 505, 506)
SIM = dict(underlyings=12, sessions=10, trades_per_underlying=800)

RECALL_KINDS = ("accumulation", "deep_otm_put_build", "bullish_roll", "bearish_roll", "naked_close")


def simulate(seed: int, root: Path) -> Path:
    """Simulate (once per directory) and return the output directory."""
    from chainlens.sim import SimConfig, simulate_market

    out = root / f"seed{seed}"
    if not (out / "scenarios.json").exists():
        simulate_market(SimConfig(seed=seed, **SIM), out)  # type: ignore[arg-type]
    return out


def load_chain(out: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted(out.glob("chain-*.parquet"))])


def detect(chain: pa.Table, config: oi.OIConfig | None = None) -> dict[str, set[tuple]]:
    """Pooled detections of the accumulation and rolls scanners, as of every session."""
    cfg = config or oi.OIConfig()
    sessions = sorted(set(chain.column("trade_date").to_pylist()))
    acc: set[tuple] = set()
    rolls: set[tuple] = set()
    closes: set[tuple] = set()
    for d in sessions[1:]:
        for r in oi.accumulation(
            chain,
            as_of=d,
            min_sessions=cfg.streak_min_sessions,
            min_contracts=cfg.streak_min_contracts,
            min_fraction=cfg.streak_min_fraction,
            min_dte=cfg.streak_min_dte,
        ).to_pylist():
            acc.add((r["symbol"],))
        for r in oi.detect_rolls(chain, as_of=d, config=cfg).to_pylist():
            if r["kind"] == "close":
                closes.add((r["from_symbol"],))
            else:
                rolls.add((r["kind"], r["from_symbol"], r["to_symbol"]))
    return {"accumulation": acc, "rolls": rolls, "closes": closes}


def score(scenarios: list[dict[str, Any]], det: dict[str, set[tuple]]) -> dict[str, Any]:
    """Recall per planted kind and precision per detector (see the module docstring)."""
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    acc_true: set[str] = set()
    close_true: set[str] = set()
    roll_true: set[tuple] = set()
    for sc in scenarios:
        k, c = sc["kind"], sc["contracts"]
        if k in ("accumulation", "deep_otm_put_build", "earnings_ramp"):
            acc_true.update(c)
        if k in ("bullish_roll", "bearish_roll") and len(c) == 2:
            roll_true.add((k, c[0], c[1]))
            acc_true.add(c[1])
        if k in ("naked_close", "accumulation", "earnings_ramp"):
            close_true.update(c)
        if k in ("accumulation", "deep_otm_put_build"):
            ok = (c[0],) in det["accumulation"]
        elif k in ("bullish_roll", "bearish_roll"):
            ok = len(c) == 2 and (k, c[0], c[1]) in det["rolls"]
        elif k == "naked_close":
            ok = (c[0],) in det["closes"]
        else:
            continue
        hits[k][0] += int(ok)
        hits[k][1] += 1
    planted = {c for sc in scenarios for c in sc["contracts"]}
    prec = {}
    for name, found, true in (
        ("accumulation", det["accumulation"], {(s,) for s in acc_true}),
        ("rolls", det["rolls"], roll_true),
        ("closes", det["closes"], {(s,) for s in close_true}),
    ):
        tp = len(found & true)
        background = sum(1 for f in found if not any(s in planted for s in f[-2:] if s))
        prec[name] = (tp, len(found), background)
    return {"recall": dict(hits), "precision": prec}


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    rec: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    pre: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in results:
        for k, (h, n) in r["recall"].items():
            rec[k][0] += h
            rec[k][1] += n
        for k, v in r["precision"].items():
            for i in range(3):
                pre[k][i] += v[i]
    return {"recall": dict(rec), "precision": dict(pre)}


def evaluate(seeds: tuple[int, ...], root: Path) -> dict[str, Any]:
    out = []
    for seed in seeds:
        d = simulate(seed, root)
        scen = json.loads((d / "scenarios.json").read_text())["scenarios"]
        out.append(score(scen, detect(load_chain(d))))
    return merge(out)


def side_accuracy(out: Path) -> dict[str, dict[str, dict[str, float]]]:
    """Share of each true class (buy/sell) classified buy/sell/mid/unknown, per method."""
    trades = pa.concat_tables([pq.read_table(p) for p in sorted(out.glob("trades-*.parquet"))])
    truth = pl.concat(
        [pl.read_parquet(p) for p in sorted((out / "truth").glob("trades-*.parquet"))]
    )
    tid = pl.DataFrame({"trade_id": trades.column("trade_id").to_numpy()})
    true_side = tid.join(truth, on="trade_id", how="left", maintain_order="left")["true_side"]
    assert true_side.null_count() == 0
    names = {flow.BUY: "buy", flow.SELL: "sell", flow.MID: "mid", flow.UNKNOWN: "unknown"}
    res: dict[str, dict[str, dict[str, float]]] = {}
    for method in ("quote", "tick", "lee_ready", "emo"):
        codes = flow.classify_side(trades, method=method)
        res[method] = {}
        for cls in ("buy", "sell"):
            m = (true_side == cls).to_numpy()
            n = int(m.sum())
            res[method][cls] = {
                lab: float(np.count_nonzero(codes[m] == code)) / max(n, 1)
                for code, lab in names.items()
            } | {"n": n}
    return res


# ---------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def sim_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sim_eval")


@pytest.fixture(scope="module")
def eval_scores(sim_root: Path) -> dict[str, Any]:
    return evaluate(EVAL_SEEDS, sim_root)


@pytest.mark.slow
def test_recall_targets_on_unseen_seeds(eval_scores: dict[str, Any]) -> None:
    rec = eval_scores["recall"]
    acc_h = rec["accumulation"][0] + rec["deep_otm_put_build"][0]
    acc_n = rec["accumulation"][1] + rec["deep_otm_put_build"][1]
    roll_h = rec["bullish_roll"][0] + rec["bearish_roll"][0]
    roll_n = rec["bullish_roll"][1] + rec["bearish_roll"][1]
    assert acc_n >= 6 and roll_n >= 6 and rec["naked_close"][1] >= 3
    assert acc_h / acc_n >= 0.9, rec
    assert roll_h / roll_n >= 0.9, rec
    assert rec["naked_close"][0] / rec["naked_close"][1] >= 0.9, rec


@pytest.mark.slow
def test_accumulation_precision_on_unseen_seeds(eval_scores: dict[str, Any]) -> None:
    tp, n, _bg = eval_scores["precision"]["accumulation"]
    assert n > 0 and tp / n >= 0.8, eval_scores["precision"]


@pytest.mark.slow
def test_roll_and_close_precision_target_on_unseen_seeds(eval_scores: dict[str, Any]) -> None:
    for name in ("rolls", "closes"):
        tp, n, _bg = eval_scores["precision"][name]
        assert n > 0 and tp / n >= 0.8, (name, eval_scores["precision"])


@pytest.mark.slow
def test_roll_and_close_precision_floor_on_unseen_seeds(eval_scores: dict[str, Any]) -> None:
    """Guard against regressions below the measured strict precision (12/14 and 19/21)."""
    pr = eval_scores["precision"]
    assert pr["rolls"][0] / pr["rolls"][1] >= 0.85, pr
    assert pr["closes"][0] / pr["closes"][1] >= 0.9, pr


def test_detection_one_seed_smoke(sim_root: Path) -> None:
    """A single evaluation seed, every scanner through ``analyze_oi`` at the roll session."""
    d = simulate(EVAL_SEEDS[0], sim_root)
    scen = json.loads((d / "scenarios.json").read_text())["scenarios"]
    chain = load_chain(d)
    r = score(scen, detect(chain))
    assert sum(h for h, _ in r["recall"].values()) >= 0.8 * sum(n for _, n in r["recall"].values())
    rolls = [s for s in scen if s["kind"] == "bullish_roll"]
    if rolls:
        last = dt.date.fromisoformat(rolls[0]["sessions"][-1])
        sessions = sorted(set(chain.column("trade_date").to_pylist()))
        as_of = next(s for s in sessions if s > last)
        res = oi.analyze_oi(chain, as_of)
        pairs = {(x["from_symbol"], x["to_symbol"]) for x in res.rolls.to_pylist()}
        assert tuple(rolls[0]["contracts"]) in pairs


def test_side_accuracy_by_class(sim_root: Path) -> None:
    """Quote rule: most true buys read buy, most true sells read sell, few read the other way."""
    acc = side_accuracy(simulate(EVAL_SEEDS[0], sim_root))
    q = acc["quote"]
    assert q["buy"]["buy"] >= 0.6 and q["sell"]["sell"] >= 0.6, q
    assert q["buy"]["sell"] <= 0.1 and q["sell"]["buy"] <= 0.1, q
    # Lee-Ready has no mid bucket: every quoted trade gets a side, so it labels more true
    # buys "buy" than the quote rule, at the cost of more buys read as sells
    lr = acc["lee_ready"]
    assert lr["buy"]["buy"] >= q["buy"]["buy"] and lr["sell"]["sell"] >= q["sell"]["sell"], lr
    assert lr["buy"]["sell"] >= q["buy"]["sell"], lr
    # the tick test alone (no quotes) is the weakest: close to a coin flip on this tape
    assert acc["tick"]["buy"]["buy"] < q["buy"]["buy"]


if __name__ == "__main__":  # a report: python tests/test_flow_sim_eval.py [tune|eval]
    import sys
    import tempfile

    which = sys.argv[1] if len(sys.argv) > 1 else "eval"
    root = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp())
    seeds = TUNING_SEEDS if which == "tune" else EVAL_SEEDS
    print(which, seeds, json.dumps(evaluate(seeds, root)))
    for s in seeds[:2]:
        print("side accuracy seed", s, json.dumps(side_accuracy(simulate(s, root)), indent=None))
