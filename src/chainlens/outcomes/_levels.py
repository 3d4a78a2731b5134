"""Level history: zero gamma, walls, max pain and spot per stored session.

Everything is read from the store through its public API (:meth:`Store.chain_history`,
:meth:`Store.session_dates`) and computed with :func:`chainlens.analysis.analyze_chain`, so the
levels of a session are exactly those ``chainlens levels TICKER --date D`` prints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from chainlens.errors import InputError, NotFoundError

if TYPE_CHECKING:
    from chainlens.analysis import AnalysisConfig
    from chainlens.store import Store

__all__ = ["LEVEL_COLUMNS", "LevelHistory", "level_history", "levels_from_history", "levels_many"]

#: Columns of :attr:`LevelHistory.levels` (units: USD index points / share price; dates ISO).
LEVEL_COLUMNS = (
    "underlying",
    "session",
    "spot",
    "zero_gamma",
    "call_wall",
    "put_wall",
    "max_pain",
    "max_pain_expiry",
    "oi_call_wall",
    "oi_put_wall",
)

_LEVELS_SCHEMA = pa.schema(
    [
        ("underlying", pa.string()),
        ("session", pa.date32()),
        ("spot", pa.float64()),
        ("zero_gamma", pa.float64()),
        ("call_wall", pa.float64()),
        ("put_wall", pa.float64()),
        ("max_pain", pa.float64()),
        ("max_pain_expiry", pa.date32()),
        ("oi_call_wall", pa.float64()),
        ("oi_put_wall", pa.float64()),
    ]
)
_EXPIRY_SCHEMA = pa.schema(
    [
        ("underlying", pa.string()),
        ("session", pa.date32()),
        ("expiry", pa.date32()),
        ("max_pain", pa.float64()),
        ("call_oi", pa.int64()),
        ("put_oi", pa.int64()),
        ("atm_strike", pa.float64()),
        ("straddle_mid", pa.float64()),
    ]
)


@dataclass(frozen=True, slots=True)
class LevelHistory:
    """Per-session levels of one underlying.

    Attributes
    ----------
    levels
        One row per stored session (:data:`LEVEL_COLUMNS`). ``spot`` is the spot of the
        session's default snapshot (the close for after-close snapshots); ``max_pain`` is the
        max pain of the first expiry strictly after the session (``max_pain_expiry``), the
        next one to settle. Walls and zero gamma as in ``chainlens analyze`` (SPEC
        "Conventions"); ``null`` where undefined.
    expiries
        One row per session and expiry: ``call_oi``, ``put_oi`` (contracts), ``max_pain`` (SPEC: listed strike minimising the
        intrinsic payout to holders, ties to the lowest strike), ``atm_strike`` and
        ``straddle_mid`` (call mid + put mid at the strike nearest spot, USD per share).
    """

    underlying: str
    levels: pa.Table
    expiries: pa.Table

    def to_records(self) -> list[dict[str, Any]]:
        """The levels as JSON-ready dicts (dates ISO strings, NaN -> None)."""
        out = []
        for r in self.levels.to_pylist():
            out.append(
                {
                    k: (
                        v.isoformat()
                        if isinstance(v, dt.date)
                        else (None if isinstance(v, float) and v != v else v)
                    )
                    for k, v in r.items()
                }
            )
        return out


def _num(x: Any) -> float | None:
    if x is None:
        return None
    f = float(x)
    return None if f != f else f


def level_history(
    store: Store,
    underlying: str,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    config: AnalysisConfig | None = None,
) -> LevelHistory:
    """Levels of ``underlying`` for every stored session in ``[start, end]`` (bounds optional).

    Parameters
    ----------
    store
        An open :class:`chainlens.store.Store`.
    underlying
        Ticker.
    start, end
        Inclusive session bounds; ``None`` = open.
    config
        Analysis settings (greeks source, dealer model); defaults otherwise.

    Raises
    ------
    NotFoundError
        When the store holds no session of ``underlying`` in the range.
    InputError
        When ``end < start``.
    """
    from chainlens.analysis import AnalysisConfig

    if start is not None and end is not None and end < start:
        raise InputError(f"--to {end} is before --from {start}", column="to", value=str(end))
    have = store.session_dates(underlying)
    if not have:
        raise NotFoundError(
            f"the store at {store.root} holds no chain of {underlying}",
            hint="run `chainlens sessions` to see what the store holds",
        )
    lo = start or have[0]
    hi = end or have[-1]
    hist = store.chain_history(underlying, start=lo, end=hi)
    if hist.num_rows == 0:
        raise NotFoundError(
            f"no {underlying} session between {lo} and {hi} (stored: {have[0]} .. {have[-1]}, "
            f"{len(have)} sessions)",
            hint="run `chainlens sessions` to see what the store holds",
        )
    return levels_from_history(hist, underlying, config or AnalysisConfig())


def _lean(cfg: AnalysisConfig) -> AnalysisConfig:
    """``cfg`` without the surfaces and vol views: levels, max pain and straddles do not use
    them (equal with and without, tested), and they are half the cost of a session."""
    import dataclasses

    return dataclasses.replace(cfg, surfaces=False, vol=False)


def levels_from_history(hist: pa.Table, underlying: str, cfg: AnalysisConfig) -> LevelHistory:
    """:func:`level_history` on a chain history already read (``Store.chain_history`` order:
    sessions ascending, each session's rows contiguous)."""
    from chainlens.analysis import analyze_chain

    cfg = _lean(cfg)
    found = []
    for chain in _session_slices(hist):  # one iteration per session
        res = [r for r in analyze_chain(chain, cfg) if r.underlying == underlying]
        if res:
            found.append(res[0])
    return _levels_of(underlying, found)


def levels_many(hists: Mapping[str, pa.Table], cfg: AnalysisConfig) -> dict[str, LevelHistory]:
    """:func:`levels_from_history` of many underlyings (``{underlying: chain history}``), the
    session snapshots of all of them analysed together (:func:`chainlens.analysis.analyze_chains`,
    the batched kernel the pipeline runs: the same analyses as one snapshot at a time).

    An underlying one of whose snapshots the batch cannot analyse goes through
    :func:`levels_from_history` alone (which raises what it raises).
    """
    from chainlens.analysis import analyze_chains

    lean = _lean(cfg)
    names = list(hists)
    chains: list[pa.Table] = []
    owner: list[int] = []
    for k, u in enumerate(names):  # one iteration per underlying
        for chain in _session_slices(hists[u]):
            chains.append(chain)
            owner.append(k)
    found: list[list[Any]] = [[] for _ in names]
    bad: set[int] = set()
    for k, res in zip(owner, analyze_chains(chains, lean), strict=True):
        if isinstance(res, Exception):
            bad.add(k)
            continue
        mine = [r for r in res if r.underlying == names[k]]
        if mine:
            found[k].append(mine[0])
    return {
        u: levels_from_history(hists[u], u, cfg) if k in bad else _levels_of(u, found[k])
        for k, u in enumerate(names)
    }


def runs_of(t: pa.Table, column: str) -> list[pa.Table]:
    """``t`` cut into its runs of equal ``column`` values (zero-copy slices, in order; none for
    an empty table): the sessions of a ``Store.chain_history``, the underlyings of a
    ``Store.chain_block``."""
    v = t.column(column).to_numpy(zero_copy_only=False)
    cuts = np.flatnonzero(v[1:] != v[:-1]) + 1
    bounds = np.concatenate([[0], cuts, [len(v)]]).astype(int)
    return [t.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _session_slices(hist: pa.Table) -> list[pa.Table]:
    """A chain history (``Store.chain_history`` order: sessions ascending, each session's rows
    contiguous) cut at the session boundaries."""
    return runs_of(hist, "trade_date")


def _levels_of(underlying: str, found: Sequence[Any]) -> LevelHistory:
    """The :class:`LevelHistory` of ``underlying`` from its session analyses
    (:class:`chainlens.analysis.ChainAnalysis`, sessions ascending)."""
    lv: dict[str, list[Any]] = {f.name: [] for f in _LEVELS_SCHEMA}
    ex: dict[str, list[Any]] = {f.name: [] for f in _EXPIRY_SCHEMA}
    for r in found:  # one iteration per session
        be = r.by_expiry
        exp = be.column("expiry").to_pylist()
        mp = [_num(v) for v in be.column("max_pain").to_pylist()]
        c_oi = be.column("call_oi").to_pylist()
        p_oi = be.column("put_oi").to_pylist()
        later = [
            (e, m)
            for e, m, c, p in zip(exp, mp, c_oi, p_oi, strict=True)
            if e > r.session and (c or 0) > 0 and (p or 0) > 0
        ]
        front = min(later, key=lambda em: em[0]) if later else (None, None)
        for k, v in (
            ("underlying", underlying),
            ("session", r.session),
            ("spot", _num(r.spot)),
            ("zero_gamma", _num(r.levels.get("zero_gamma"))),
            ("call_wall", _num(r.levels.get("call_wall"))),
            ("put_wall", _num(r.levels.get("put_wall"))),
            ("max_pain", front[1]),
            ("max_pain_expiry", front[0]),
            ("oi_call_wall", _num(r.levels.get("oi_call_wall"))),
            ("oi_put_wall", _num(r.levels.get("oi_put_wall"))),
        ):
            lv[k].append(v)
        n = be.num_rows
        ex["underlying"] += [underlying] * n
        ex["session"] += [r.session] * n
        ex["expiry"] += exp
        ex["max_pain"] += mp
        ex["call_oi"] += c_oi
        ex["put_oi"] += p_oi
        ex["atm_strike"] += [_num(v) for v in be.column("atm_strike").to_pylist()]
        ex["straddle_mid"] += [_num(v) for v in be.column("straddle_mid").to_pylist()]
    return LevelHistory(
        underlying=underlying,
        levels=pa.Table.from_pydict(lv, schema=_LEVELS_SCHEMA),
        expiries=pa.Table.from_pydict(ex, schema=_EXPIRY_SCHEMA),
    )
