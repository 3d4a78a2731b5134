"""Flow score 0-100 (seed 002 "Using OI in the flow scoring framework").

The score is a weighted sum of step functions of its inputs. Weights and breakpoints are
*data*: one row of :data:`SCORE_TABLE` per input, never a branch in code. The three groups of
seed 002 keep their weights: Vol/OI 30, premium size 40 (relative to OI and to normal volume),
aggressiveness 30 (side, sweep, OTM distance, DTE).

Each row maps an input ``x`` to a fraction of its weight: ``fraction[i]`` applies for
``knots[i] <= x < knots[i+1]``; below the first knot the fraction is 0; a missing input (NaN)
contributes 0. Fractions increase along the knots for inputs where more means more conviction
and decrease for DTE (a shorter-dated print is more aggressive).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pyarrow as pa

from chainlens._typing import ArrayLike

__all__ = ["SCORE_TABLE", "ScoreRow", "flow_score", "score_components", "score_table"]


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One input of the score: its group, weight (points) and step breakpoints."""

    group: str
    weight: float
    knots: tuple[float, ...]
    fractions: tuple[float, ...]
    doc: str


#: The score as data. Weights sum to 100. Vol/OI breakpoints are seed 002's: 2-3x ~50%,
#: 3-7x ~75%, 7-15x ~90%, above 15x the maximum; below 2x the seed's bands (0.5x, 1x) give
#: small fractions (very low / low / moderate signal quality).
SCORE_TABLE: MappingProxyType[str, ScoreRow] = MappingProxyType(
    {
        "vol_oi": ScoreRow(
            "vol_oi", 30.0,
            (0.5, 1.0, 2.0, 3.0, 7.0, 15.0),
            (0.10, 0.25, 0.50, 0.75, 0.90, 1.00),
            "session volume / OI(D) (contracts / contracts)",
        ),
        "premium_usd": ScoreRow(
            "premium", 15.0,
            (25e3, 100e3, 250e3, 500e3, 1e6, 5e6),
            (0.10, 0.30, 0.50, 0.70, 0.85, 1.00),
            "premium of the print, USD",
        ),
        "size_to_oi": ScoreRow(
            "premium", 15.0,
            (0.01, 0.05, 0.10, 0.25, 0.50, 1.00),
            (0.10, 0.30, 0.50, 0.70, 0.85, 1.00),
            "print size / OI(D): the share of existing positions it represents",
        ),
        "size_to_avg_volume": ScoreRow(
            "premium", 10.0,
            (0.10, 0.25, 0.50, 1.00, 2.00, 5.00),
            (0.10, 0.30, 0.50, 0.70, 0.85, 1.00),
            "print size / trailing 5-session average daily volume of the contract",
        ),
        "aggressiveness": ScoreRow(
            "aggressiveness", 12.0,
            (0.2, 0.5, 0.8, 1.0),
            (0.25, 0.50, 0.75, 1.00),
            "|side| in [0, 1]: 1 at or through the quote, 0 at the mid or unknown",
        ),
        "sweep": ScoreRow(
            "aggressiveness", 8.0,
            (0.5,),
            (1.00,),
            "1 if the print is a multi-exchange sweep, else 0 (per contract: premium share)",
        ),
        "otm_pct": ScoreRow(
            "aggressiveness", 5.0,
            (0.0, 2.0, 5.0, 10.0, 20.0),
            (0.20, 0.40, 0.60, 0.80, 1.00),
            "distance out of the money, % of spot (negative in the money)",
        ),
        "dte_days": ScoreRow(
            "aggressiveness", 5.0,
            (-1e-9, 7.0, 30.0, 90.0, 365.0),
            (1.00, 0.80, 0.50, 0.20, 0.00),
            "calendar days to expiry",
        ),
    }
)  # fmt: skip


def score_table() -> pa.Table:
    """The score's weights and breakpoints as an Arrow table (for reports and docs)."""
    return pa.table(
        {
            "input": list(SCORE_TABLE),
            "group": [r.group for r in SCORE_TABLE.values()],
            "weight": [r.weight for r in SCORE_TABLE.values()],
            "knots": [list(r.knots) for r in SCORE_TABLE.values()],
            "fractions": [list(r.fractions) for r in SCORE_TABLE.values()],
            "doc": [r.doc for r in SCORE_TABLE.values()],
        }
    )


def _step(x: np.ndarray, knots: tuple[float, ...], fractions: tuple[float, ...]) -> np.ndarray:
    k = np.asarray(knots)
    f = np.concatenate([[0.0], np.asarray(fractions)])
    i = np.searchsorted(k, np.nan_to_num(x, nan=-np.inf), side="right")
    out = f[i]
    return np.where(np.isnan(x), 0.0, out)


def score_components(**inputs: ArrayLike) -> dict[str, np.ndarray]:
    """Points contributed by each input (``weight * fraction``), keyed like :data:`SCORE_TABLE`.

    Inputs not given contribute 0; all given inputs broadcast together.
    """
    unknown = set(inputs) - set(SCORE_TABLE)
    if unknown:
        from chainlens.errors import ConfigError

        raise ConfigError(f"unknown score inputs {sorted(unknown)}; known: {list(SCORE_TABLE)}")
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()}
    shape = np.broadcast_shapes(*(a.shape for a in arrays.values())) if arrays else ()
    out = {}
    for name, row in SCORE_TABLE.items():
        x = np.broadcast_to(arrays.get(name, np.full(shape, np.nan)), shape)
        out[name] = row.weight * _step(x, row.knots, row.fractions)
    return out


def flow_score(**inputs: ArrayLike) -> np.ndarray:
    """Flow score in points (0-100), the sum of :func:`score_components`.

    Parameters
    ----------
    vol_oi, premium_usd, size_to_oi, size_to_avg_volume, aggressiveness, sweep, otm_pct, dte_days
        Arrays (broadcast together); see :data:`SCORE_TABLE` for units. NaN contributes 0.

    Notes
    -----
    :math:`S = \\sum_i w_i\\, f_i(x_i)` with :math:`f_i` the step function of row *i*
    (seed 002: Vol/OI 30%, premium size 40%, aggressiveness 30%).

    Examples
    --------
    >>> float(flow_score(vol_oi=2.5))          # seed 002: 2-3x is ~50% of the 30 points
    15.0
    >>> float(flow_score(vol_oi=20.0, premium_usd=6e6, size_to_oi=2.0, size_to_avg_volume=9.0,
    ...                  aggressiveness=1.0, sweep=1.0, otm_pct=25.0, dte_days=0.0))
    100.0
    """
    comps = score_components(**inputs)
    return np.sum(np.stack(list(comps.values())), axis=0)
