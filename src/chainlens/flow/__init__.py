"""chainlens.flow: who bought and who sold (seed 003 side decomposition, seed 002 flow score).

Pure kernels over canonical Arrow tables (:data:`chainlens.schema.TRADES`, ``CHAIN``,
``PRINTS``); no I/O.

Composed entry for the pipeline
-------------------------------
``analyze_flow(trades, chain, *, history=None, prints=None, config=None, contract_views=True) -> FlowResult``

* ``trades``: one underlying's (or many underlyings') trades for one session.
* ``chain``: that session's chain snapshot(s) (OI(D), volume, vendor gamma/delta, spot).
* ``history``: optional chain snapshots over several sessions (adds ``avg_volume_5d``, the next
  session's OI change for "held overnight", and bounds the flow-inferred dealer positions).
* ``prints``: optional off-exchange equity prints (dark pool).

:class:`FlowResult` fields (Arrow tables unless said): ``trades`` (enriched: ``side``,
``side_code``, ``premium_usd``, ``multileg``, ``aggressiveness``, ``burst_id``, ``is_sweep``,
``is_block``), ``by_ticker``, ``by_expiry``, ``by_strike`` (premium decomposition),
``totals`` (dict: the whole input's decomposition and the flip rate), ``side_mix`` (dict),
``prints`` (sweeps collapsed), ``notable`` (ranked notable prints with facts and score),
``contract_scores``, ``dealer_positions`` (``symbol``, ``dealer_position_contracts``...;
both None with ``contract_views=False``), ``darkpool`` and ``twap`` (None without prints), ``settings`` (dict).

Kernels: :func:`classify_side` (``quote``/``tick``/``lee_ready``/``emo``), :func:`quote_rule`,
:func:`tick_test`, :func:`lee_ready`, :func:`emo_rule`, :func:`tag_multileg`,
:func:`tag_moneyness` (deep in the money), :func:`tag_synthetic` (box/conversion-like),
:func:`decompose_premium`, :func:`flip_summary`, :func:`detect_sweeps`, :func:`print_events`,
:func:`notable_prints`, :func:`flow_score` (weights in :data:`SCORE_TABLE`),
:func:`darkpool_summary`, :func:`detect_twap`, :func:`dealer_positions`; the integer-key
group-by of the hot path: :func:`dict_codes` and :func:`group_sum`.
"""

from __future__ import annotations

from chainlens.flow._aggregate import dict_codes, group_sum
from chainlens.flow._analyze import FlowResult, analyze_flow, contract_scores, enrich_trades
from chainlens.flow._config import DEFAULT_MULTILEG_CONDITIONS, FlowConfig
from chainlens.flow._darkpool import darkpool_summary, detect_twap
from chainlens.flow._positions import dealer_positions
from chainlens.flow._premium import (
    BUCKETS,
    DIRECTIONAL_COLUMNS,
    decompose_premium,
    flip_summary,
    tag_moneyness,
    tag_multileg,
    tag_synthetic,
)
from chainlens.flow._prints import detect_sweeps, expiry_class_array, notable_prints, print_events
from chainlens.flow._score import SCORE_TABLE, flow_score, score_components, score_table
from chainlens.flow._side import (
    BUY,
    MID,
    SELL,
    UNKNOWN,
    classify_side,
    emo_rule,
    lee_ready,
    quote_rule,
    side_names,
    tick_test,
)

__all__ = [
    "BUCKETS",
    "DIRECTIONAL_COLUMNS",
    "BUY",
    "DEFAULT_MULTILEG_CONDITIONS",
    "MID",
    "SCORE_TABLE",
    "SELL",
    "UNKNOWN",
    "FlowConfig",
    "FlowResult",
    "analyze_flow",
    "classify_side",
    "contract_scores",
    "darkpool_summary",
    "dealer_positions",
    "decompose_premium",
    "detect_sweeps",
    "detect_twap",
    "dict_codes",
    "emo_rule",
    "enrich_trades",
    "expiry_class_array",
    "flip_summary",
    "flow_score",
    "group_sum",
    "lee_ready",
    "notable_prints",
    "print_events",
    "quote_rule",
    "score_components",
    "score_table",
    "side_names",
    "tag_moneyness",
    "tag_multileg",
    "tag_synthetic",
    "tick_test",
]
