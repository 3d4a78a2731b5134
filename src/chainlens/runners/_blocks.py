"""Blocks of underlyings: the unit of work every runner hands one task.

A *block* is a run of underlyings analysed by one task (a local pool task, a Spark group):
:func:`analyze_block` maps the batched kernel (:func:`chainlens.pipeline.analyze_underlyings`)
over the block's windows in *chunks*, turns a failed underlying into a message, and builds the
block's result parts (:func:`chainlens.runners.base.result_parts`) in the task, so both
runners do the same thing with a block and write the same tables. :func:`merge_blocks` puts
the blocks of a session back together, in block order.

Blocks and chunks are sized by **input rows** (chain window + trades + prints), not by names
(:func:`ranges_by_rows`): a task's memory is bounded by the rows it holds, and a name with
hundreds of thousands of rows does not share a block with hundreds of others. A name larger
than the budget on its own is a block (or chunk) alone: the kernel needs an underlying's whole
window at once.

Examples
--------
>>> ranges_by_rows([5, 5, 50, 1, 1, 1], budget=10, max_names=2)
[(0, 2), (2, 3), (3, 5), (5, 6)]
"""

from __future__ import annotations

import resource
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from chainlens._gc import paused_gc
from chainlens.errors import ChainlensError
from chainlens.market import market_facts
from chainlens.pipeline import (
    PipelineConfig,
    UnderlyingResult,
    UnderlyingWindow,
    analyze_underlyings,
)
from chainlens.results import MarketFacts
from chainlens.runners.base import result_parts

if TYPE_CHECKING:
    from chainlens.scan._store_scans import NetDeltaTask
    from chainlens.store import StagedFile

__all__ = [
    "BLOCK_MAX",
    "BLOCK_ROWS",
    "CHUNK_MAX",
    "CHUNK_ROWS",
    "BlockOut",
    "analyze_block",
    "analyze_chunk",
    "merge_blocks",
    "own",
    "ranges_by_rows",
    "window_rows",
]

#: Underlyings per :func:`~chainlens.pipeline.analyze_underlyings` call at most.
CHUNK_MAX = 128
#: Input rows per :func:`~chainlens.pipeline.analyze_underlyings` call at most (a larger name
#: is a chunk alone). About 128 names of the simulated market's median size: the kernel's
#: per-call overhead is amortised, and its intermediates stay bounded.
CHUNK_ROWS = 400_000
#: Underlyings per block at most (a block's documents and parts travel back as one pickle).
BLOCK_MAX = 640
#: Input rows per block at most (a larger name is a block alone). A worker holds its block's
#: input tables, one chunk's intermediates and the block's results at once.
BLOCK_ROWS = 1_000_000


def window_rows(w: UnderlyingWindow) -> int:
    """Input rows of one window: chain history + trades + prints."""
    return sum(0 if t is None else t.num_rows for t in (w.history, w.trades, w.prints))


def ranges_by_rows(rows: Sequence[int], budget: int, max_names: int) -> list[tuple[int, int]]:
    """Contiguous ``[a, b)`` ranges covering ``rows`` in order, each of at most ``budget`` rows
    and ``max_names`` names, except that a name above ``budget`` is a range alone.

    A range closes before the name that would take it past either limit (greedy, in order:
    the ranges keep the names' order, so concatenating their results needs no re-sorting).
    """
    budget, max_names = max(1, int(budget)), max(1, int(max_names))
    out: list[tuple[int, int]] = []
    a, load = 0, 0
    for i, r in enumerate(rows):  # a loop over names
        if i > a and (load + r > budget or i - a >= max_names):
            out.append((a, i))
            a, load = i, 0
        load += int(r)
    if a < len(rows):
        out.append((a, len(rows)))
    return out


def analyze_chunk(
    windows: Sequence[UnderlyingWindow],
    config: PipelineConfig,
    *,
    enriched: list[pa.Table | None] | None = None,
) -> list[UnderlyingResult | str]:
    """:func:`~chainlens.pipeline.analyze_underlyings` over one chunk; a
    :class:`~chainlens.errors.ChainlensError` becomes ``"<underlying>: <message>"`` for that
    underlying only (a bad underlying does not stop the session). ``enriched``: as there."""
    got = analyze_underlyings(list(windows), config, enriched=enriched)
    return [
        f"{w.underlying}: {r.message}" if isinstance(r, ChainlensError) else r
        for w, r in zip(windows, got, strict=True)
    ]


@dataclass(slots=True)
class BlockOut:
    """What a task returns for one block of underlyings.

    Attributes
    ----------
    names
        The block's underlyings, in order.
    failed
        Per underlying: ``None`` (its result is in the parts) or its failure message.
    parts
        :func:`~chainlens.runners.base.result_parts` of the block's results, in order.
    facts
        :func:`~chainlens.market.market_facts` of its results' documents, in order (the
        market rollup's input: the documents themselves are the ``docs`` part, JSON).
    input_rows
        Input rows of the block (chain window + trades + prints).
    peak_rss_kb
        Peak RSS of the process that ran it, so far (KiB; ``ru_maxrss``).
    netdelta
        Whether ``parts`` hold the block's net-delta scanner parts
        (:func:`chainlens.scan._stored.netdelta_parts`; ``netdelta`` of :func:`analyze_block`).
    files
        The per-underlying parts the task wrote as Parquet files (``stage`` of
        :func:`analyze_block`) instead of returning them in ``parts``.
    """

    names: list[str]
    failed: list[str | None]
    parts: dict[str, pa.Table]
    facts: list[MarketFacts]
    input_rows: int
    peak_rss_kb: int
    netdelta: bool = False
    files: dict[str, StagedFile] = field(default_factory=dict)


def analyze_block(
    windows: Sequence[UnderlyingWindow],
    config: PipelineConfig,
    *,
    chunk_rows: int = CHUNK_ROWS,
    chunk_max: int = CHUNK_MAX,
    copy: bool = False,
    netdelta: NetDeltaTask | None = None,
    stage: tuple[str, int] | None = None,
) -> BlockOut:
    """Analyse one block: the windows in chunks of at most ``chunk_rows`` input rows and
    ``chunk_max`` names (:func:`analyze_chunk`), then the block's result parts.

    ``netdelta`` (a :class:`chainlens.scan._store_scans.NetDeltaTask` of the block's
    underlyings, sorted and each with a chain on the session) adds the block's net-delta
    scanner parts (:func:`chainlens.scan._store_scans.netdelta_block`, the session's trades
    taken from the windows): the runner then concatenates them instead of scanning the
    session's trades again. A scanner input problem leaves them out (``BlockOut.netdelta``
    False) and the runner scans in the parent, as before.

    ``copy`` gives every part buffers of its own (:func:`own`): a part is a concatenation of
    slices of chunk-wide buffers, and a pickled slice carries its whole buffer. The results
    do not depend on the chunking (the batched kernel equals the per-underlying one).

    ``stage`` (``(directory, block number)``): the per-underlying parts (those of
    :func:`~chainlens.runners.base.result_parts`, not the scanner's) are written there as
    Parquet files (:func:`chainlens.store.stage_results_file`, named ``<part>-<block>``) and
    returned in ``BlockOut.files``: a pool worker then hands the parent file names, not the
    tables (at 5,000 underlyings ~1.2 GB of pickles, and the parent's serial Parquet write).
    """
    with paused_gc():  # millions of record objects, no cycle (:mod:`chainlens._gc`)
        return _analyze_block(windows, config, chunk_rows, chunk_max, copy, netdelta, stage)


def _analyze_block(
    windows: Sequence[UnderlyingWindow],
    config: PipelineConfig,
    chunk_rows: int,
    chunk_max: int,
    copy: bool,
    netdelta: NetDeltaTask | None,
    stage: tuple[str, int] | None,
) -> BlockOut:
    """:func:`analyze_block`'s work (the collector paused around it there)."""
    sizes = [window_rows(w) for w in windows]
    results: list[UnderlyingResult] = []
    failed: list[str | None] = []
    sides: list[pa.Table | None] | None = [] if _default_sides(config, netdelta) else None
    for a, b in ranges_by_rows(sizes, chunk_rows, chunk_max):  # a loop over chunks
        got: list[pa.Table | None] | None = None if sides is None else []
        for r in analyze_chunk(windows[a:b], config, enriched=got):
            if isinstance(r, str):
                failed.append(r)
            else:
                failed.append(None)
                results.append(r)
        if sides is not None and got is not None:  # the two tags only (the rest is freed)
            sides.extend(None if e is None else e.select(["side_code", "multileg"]) for e in got)
    parts = result_parts(results)
    mine = list(parts)
    nd_ok = False
    if netdelta is not None:
        nd_ok = _netdelta_parts(netdelta, windows, parts, sides)
    files: dict[str, StagedFile] = {}
    if stage is not None:
        from pathlib import Path

        from chainlens.store import stage_results_file

        for k in mine:
            files[k] = stage_results_file(parts.pop(k), Path(stage[0]), f"{k}-{stage[1]:05d}")
    if copy:
        parts = {k: own(t) for k, t in parts.items()}
    return BlockOut(
        names=[w.underlying for w in windows],
        failed=failed,
        parts=parts,
        facts=[market_facts(r.doc) for r in results],
        input_rows=sum(sizes),
        peak_rss_kb=int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        netdelta=nd_ok,
        files=files,
    )


def _default_sides(config: PipelineConfig, netdelta: NetDeltaTask | None) -> bool:
    """The block's flow step tags trades as the net-delta scanner does (its side and
    multi-leg rules those of the default :class:`~chainlens.flow.FlowConfig`), and the block
    has a net-delta step to hand them to."""
    from chainlens.flow import FlowConfig

    if netdelta is None:
        return False
    got, ref = config.flow or FlowConfig(), FlowConfig()
    keys = ("side_method", "buy_threshold", "sell_threshold", "multileg_conditions",
            "multileg_same_ts")  # fmt: skip
    return all(getattr(got, k) == getattr(ref, k) for k in keys)


def _netdelta_parts(
    task: NetDeltaTask,
    windows: Sequence[UnderlyingWindow],
    parts: dict[str, pa.Table],
    enriched: Sequence[pa.Table | None] | None = None,
) -> bool:
    """Add the block's net-delta scanner parts to ``parts``; False (nothing added) on a
    scanner input problem. The scanner takes the session's trades and chain rows from the
    windows (the same stored rows) instead of reading them again, and the trades' side and
    multi-leg tags from ``enriched`` (per window: the ``side_code`` and ``multileg`` columns
    of its trades enriched by the block's flow step under the default side rules,
    :func:`_default_sides`) where every window with trades has them. The block's unusual-scanner
    daily flows go to ``parts[UNUSUAL_FLOWS]`` too (not a stored part: the runner hands them
    to :func:`chainlens.scan._stored.scan_parts`), where the windows give them."""
    from chainlens.scan._store_scans import (
        UNUSUAL_FLOWS,
        netdelta_block,
        session_rows,
        unusual_block_flows,
        window_rows,
    )
    from chainlens.scan._stored import netdelta_parts

    tables = [w.trades for w in windows]
    if enriched is not None and len(enriched) == len(windows):  # with their side tags
        pairs = list(zip(windows, enriched, strict=True))
        if all(e is not None or not w.trades.num_rows for w, e in pairs):
            tagged = [
                w.trades.append_column("side_code", e.column("side_code")).append_column(
                    "multileg", e.column("multileg")
                )
                for w, e in pairs
                if e is not None and e.num_rows == w.trades.num_rows
            ]
            if len(tagged) == sum(1 for _, e in pairs if e is not None):
                tables = tagged or tables
    try:
        today = pa.concat_tables(tables) if windows else None
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed schemas: read the session's trades
        today = None
    histories = [w.history for w in windows]
    names = [w.underlying for w in windows]
    trades = [w.trades for w in windows]
    # the windows' chain and trade rows concatenated once, for the three steps
    got = window_rows(names, histories, trades) if windows else None
    chain = session_rows(histories, task.session, got) if windows else None
    try:
        flows = unusual_block_flows(names, histories, trades, task.session, got)
    except ChainlensError:
        flows = None
    if flows is not None:
        parts[UNUSUAL_FLOWS] = flows
    seg = None if got is None or today is None else got.trade_segments()
    try:
        rows, daily = netdelta_block(task, names, today, chain, segments=seg)
    except ChainlensError:
        return False
    parts.update(netdelta_parts(rows, daily, task.session))
    return True


def own(t: pa.Table) -> pa.Table:
    """``t`` copied into buffers of its own (one chunk per column)."""
    return t.take(pa.array(np.arange(t.num_rows, dtype=np.int64)))


def merge_blocks(blocks: Sequence[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    """The parts of several blocks (each :func:`~chainlens.runners.base.result_parts` of its
    results), concatenated in block order: :func:`~chainlens.runners.base.result_parts` of all
    the results in that order."""
    names = sorted({k for b in blocks for k in b})
    out: dict[str, pa.Table] = {}
    for name in names:
        ts = [b[name] for b in blocks if name in b and (name == "docs" or b[name].num_rows)]
        if ts:
            out[name] = pa.concat_tables(ts)
    return out
