"""Planted edge vs no edge for the outcome rules beyond the max-pain pin (issue 16, check 5).

Each test writes a small hand-made market to a real store twice per seed: once with the edge a
rule claims planted in the closes or the open interest, once without it (the same chains, the
closes or OI following a random walk independent of the levels). The tracker must report a hit
rate above the rule's baseline (Wilson lower bound above the baseline rate) where the edge is
planted, and about the baseline where it is not. Markets are built here, not by ``chainlens.sim``
(whose calibration changes): only what is planted is asserted.

* ``walls``: a call wall 3% above the close and a put wall 0.3% below it; planted: the next
  close lands uniformly between the walls; no edge: a 1%-a-day random walk.
* ``expected_move_zone``: an ATM straddle of ``M`` (daily expiries); planted: the next close
  stays within ``M/2``; no edge: a normal move whose mean absolute size equals the straddle
  (a fairly priced straddle), so the zone holds at its nominal probability.
* ``accumulation_held``, ``deep_otm_build_held`` and ``watch_items`` (their contracts): every
  other session two new contracts build OI for three sessions (an accumulation streak);
  planted: the position is then held; no edge: it then decays like every other contract (the
  baseline). The price walks independently of the OI in both, so
  ``accumulation_toward_strike`` must show no edge in either.

Not planted here: ``gamma_regime`` (zero gamma comes from the whole gamma profile, so a move
size conditioned on it needs a chain whose profile crossing is steered session by session),
``flow_label`` / ``flow_divergence`` (need trades whose inferred side is steered), and the
roll rules (``rolls_held``, ``rolls_direction``: a roll needs paired near/far legs within the
pairing bands); ``accumulation_toward_strike`` is only checked without an edge (above). These rules are measured on the simulated demo store and on the real SPX
history (tests/test_outcomes_realdata.py).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from chainlens.calendar import next_session, sessions_in_range
from chainlens.outcomes import OutcomeResult, measure_outcomes, wilson_interval
from chainlens.store import Store
from chainlens.symbols import format_osi

N_SESSIONS = 36


def _days() -> list[dt.date]:
    return [d.astype(object) for d in sessions_in_range("2025-01-02", "2025-04-30")][:N_SESSIONS]


def _chain(
    d: dt.date,
    expiry: dt.date,
    spot: float,
    strikes: np.ndarray,
    oi: dict[tuple[str, float], float] | np.ndarray,
    tv: float = 0.5,
) -> pa.Table:
    """One snapshot of calls and puts at ``strikes``; ``oi`` per (right, strike) over a thin
    background of 10 contracts, or an array (calls then puts); mids = intrinsic + ``tv``."""
    n = strikes.size
    k = np.concatenate([strikes, strikes])
    right = np.array(["C"] * n + ["P"] * n)
    if isinstance(oi, np.ndarray):
        o = oi.astype(np.int64)
    else:
        o = np.full(2 * n, 10, dtype=np.int64)
        for (r, x), v in oi.items():
            o[(right == r) & np.isclose(k, x)] = int(v)
    snap = dt.datetime.combine(d, dt.time(21, 0), tzinfo=dt.UTC)
    intrinsic = np.where(right == "C", np.maximum(spot - k, 0), np.maximum(k - spot, 0))
    mid = intrinsic + tv
    m = 2 * n
    return pa.table(
        {
            "trade_date": pa.array([d] * m, pa.date32()),
            "snapshot_ts": pa.array([snap] * m, pa.timestamp("ns", tz="UTC")),
            "underlying": ["SIM"] * m,
            "root": ["SIM"] * m,
            "symbol": [
                format_osi("SIM", expiry, r, float(x)) for r, x in zip(right, k, strict=True)
            ],
            "expiry": pa.array([expiry] * m, pa.date32()),
            "settlement": ["PM"] * m,
            "strike": k,
            "right": right.tolist(),
            "multiplier": pa.array([100] * m, pa.int64()),
            "bid": np.maximum(mid - 0.02, 0.0),
            "ask": mid + 0.02,
            "volume": pa.array([100] * m, pa.int64()),
            "open_interest": o,
            "iv": np.full(m, 0.2),
            "spot": np.full(m, spot),
        }
    )


def _store(root: Path, tables: list[pa.Table]) -> None:
    with Store(root) as st:
        st.add_tables({"chain": pa.concat_tables(tables)}, source=f"planted-{root.name}")


def _measure(root: Path, rules: list[str], **params: Any) -> dict[str, OutcomeResult]:
    with Store(root, create=False, read_only=True) as st:
        return {r.rule: r for r in measure_outcomes(st, rules=rules, params=params or None)}


def _edge(hits: int, n: int, base_rate: float) -> bool:
    lo, _ = wilson_interval(hits, n)
    return lo is not None and lo > base_rate


# --------------------------------------------------------------------------- walls
def _walls_market(root: Path, seed: int, planted: bool) -> None:
    rng = np.random.default_rng(seed)
    spot, tables, walls = 100.0, [], None
    for d in _days():
        if walls is not None:
            pw, cw = walls
            spot = rng.uniform(pw, cw) if planted else spot * (1 + rng.normal(0, 0.01))
        spot = round(spot, 2)
        strikes = np.round(np.arange(round(spot * 0.9, 1), spot * 1.1, 0.1), 1)
        cw = float(strikes[np.argmin(abs(strikes - spot * 1.03))])
        pw = float(strikes[np.argmin(abs(strikes - spot * 0.997))])
        walls = (pw, cw)
        tables.append(
            _chain(d, next_session(d), spot, strikes, {("C", cw): 50_000, ("P", pw): 50_000})
        )
    _store(root, tables)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_walls_planted_edge_and_no_edge(seed: int, tmp_path: Path) -> None:
    for planted in (True, False):
        root = tmp_path / f"w{int(planted)}"
        _walls_market(root, seed, planted)
        r = _measure(root, ["walls"])["walls"]
        assert r.n == N_SESSIONS - 1
        # the measured walls are the planted strikes (3% above, 0.3% below the close)
        e = r.events[0]
        assert e["call_wall"] == pytest.approx(e["close"] * 1.03, abs=0.06)
        assert e["put_wall"] == pytest.approx(e["close"] * 0.997, abs=0.06)
        assert r.hit_rate is not None and r.baseline_rate is not None
        if planted:
            assert r.hits == r.n and _edge(r.hits, r.n, r.baseline_rate), r.to_json()
        else:
            assert not _edge(r.hits, r.n, r.baseline_rate), r.to_json()
            assert r.hit_rate <= r.baseline_rate + 0.1


# --------------------------------------------------------------------------- zone
SIGMA = 0.01  # daily move of the no-edge market (fraction)


def _zone_market(root: Path, seed: int, planted: bool) -> None:
    rng = np.random.default_rng(seed)
    spot, tables, m = 100.0, [], None
    for d in _days():
        if m is not None:
            spot = spot + (rng.uniform(-m / 2, m / 2) if planted else spot * rng.normal(0, SIGMA))
        spot = round(spot, 2)
        strikes = np.round(np.arange(round(spot * 0.95, 2), spot * 1.05, 0.01), 2)
        # a fair straddle: E|move| of a normal move of SIGMA is sqrt(2/pi) SIGMA spot
        m = float(np.sqrt(2 / np.pi) * SIGMA * spot)
        tables.append(_chain(d, next_session(d), spot, strikes, {}, tv=m / 2))
    _store(root, tables)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_expected_move_zone_planted_edge_and_fair_straddle(seed: int, tmp_path: Path) -> None:
    for planted in (True, False):
        root = tmp_path / f"z{int(planted)}"
        _zone_market(root, seed, planted)
        r = _measure(root, ["expected_move_zone"])["expected_move_zone"]
        assert r.n == N_SESSIONS - 1
        e = r.events[0]
        assert e["straddle_mid"] == pytest.approx(np.sqrt(2 / np.pi) * SIGMA * e["high"], rel=0.05)
        assert r.baseline_rate == pytest.approx(0.576, abs=0.01)  # erf(1/sqrt(pi)), 1 session
        assert r.hit_rate is not None
        if planted:
            assert r.hits == r.n and _edge(r.hits, r.n, r.baseline_rate), r.to_json()
        else:  # a fair straddle: the zone holds about as often as its nominal probability
            assert not _edge(r.hits, r.n, r.baseline_rate), r.to_json()
            assert abs(r.hit_rate - r.baseline_rate) <= 0.25, r.to_json()


# --------------------------------------------------------------------------- OI held
EXPIRY = dt.date(2025, 9, 19)


def _oi_market(root: Path, seed: int, planted: bool) -> set[str]:
    """Background OI decays 4% a session on average (-12%..+4%: never an above-baseline
    growth); every other session two fresh contracts build +400 a session for 3 sessions."""
    rng = np.random.default_rng(seed)
    strikes = np.arange(80.0, 121.0)
    n = 2 * strikes.size
    oi = np.full(n, 1000.0)
    build: dict[int, int] = {}  # contract -> sessions of building left
    held: set[int] = set()
    built: set[int] = set()
    spot, tables = 100.0, []
    for s, d in enumerate(_days()):
        if s:
            spot = round(spot * (1 + rng.normal(0, 0.005)), 2)
            shock = 1 + rng.uniform(-0.12, 0.04, n)
            for c in range(n):  # the market maker of a hand-made market: 82 contracts
                if c in build:
                    oi[c] += 400
                    build[c] -= 1
                    if build[c] == 0:
                        del build[c]
                        if planted:
                            held.add(c)
                elif c not in held:
                    oi[c] = max(np.floor(oi[c] * shock[c]), 0.0)
        if s % 2 == 0 and s < N_SESSIONS - 8:
            fresh = [c for c in rng.permutation(n) if c not in built and c not in build][:2]
            for c in fresh:
                build[int(c)] = 3
                built.add(int(c))
        tables.append(_chain(d, EXPIRY, spot, strikes, oi.copy()))
    _store(root, tables)
    k = np.concatenate([strikes, strikes])
    right = ["C"] * strikes.size + ["P"] * strikes.size
    return {format_osi("SIM", EXPIRY, right[c], float(k[c])) for c in built}


@pytest.mark.parametrize("seed", [1, 2])
def test_oi_held_and_watch_items_planted_edge_and_no_edge(seed: int, tmp_path: Path) -> None:
    for planted in (True, False):
        root = tmp_path / f"o{int(planted)}"
        built = _oi_market(root, seed, planted)
        res = _measure(
            root,
            ["accumulation_held", "deep_otm_build_held", "accumulation_toward_strike",
             "watch_items"],
            watch_items={"horizon": 5},
        )  # fmt: skip
        deep, toward = res["deep_otm_build_held"], res["accumulation_toward_strike"]
        assert deep.n >= 5 and deep.baseline_rate is not None
        # the price walks independently of the OI: no rule about price toward the strike wins
        assert toward.n == res["accumulation_held"].n and toward.baseline_rate is not None
        assert not _edge(toward.hits, toward.n, toward.baseline_rate), toward.to_json()
        acc = res["accumulation_held"]
        assert acc.n >= 10 and {e["symbol"] for e in acc.events} <= built
        watch = [e for e in res["watch_items"].events if e["item"] == "contract"]
        assert len(watch) >= 10 and {e["symbol"] for e in watch} <= built
        w_hits = sum(e["hit"] for e in watch)
        w_base = float(np.mean([e["baseline_hit"] for e in watch]))
        assert acc.baseline_rate is not None and acc.hit_rate is not None
        if planted:
            assert acc.hits == acc.n and _edge(acc.hits, acc.n, acc.baseline_rate), acc.to_json()
            assert w_hits == len(watch) and _edge(w_hits, len(watch), w_base)
            assert {e["status"] for e in watch} == {"confirmed"}
            assert deep.hits == deep.n and _edge(deep.hits, deep.n, deep.baseline_rate)
        else:
            assert not _edge(acc.hits, acc.n, acc.baseline_rate), acc.to_json()
            assert acc.hit_rate <= acc.baseline_rate + 0.25
            assert not _edge(w_hits, len(watch), w_base)
            assert w_hits / len(watch) <= w_base + 0.25
            assert not _edge(deep.hits, deep.n, deep.baseline_rate)
