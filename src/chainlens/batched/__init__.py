"""Segmented kernels: one columnar pass over a chunk of underlyings keyed by underlying.

The daily pipeline (:func:`chainlens.pipeline.analyze_underlyings`) concatenates the windows of
a chunk of underlyings and runs each heavy step once over the concatenation, every row tagged
with its *segment* (the index of its window in the chunk), instead of once per underlying on
a small frame. Each kernel gives, per segment, what the per-underlying function gives on that
segment alone (the per-underlying path stays the reference; ``tests/test_pipeline_batched.py``
compares the two table by table and document by document).
"""

from chainlens.batched._flow import (
    darkpool_many,
    decompose_segmented,
    enrich_many,
    flow_many,
    notable_many,
    print_events_many,
    segment_ids,
    split_rows,
    tag_moneyness_many,
)

__all__ = [
    "darkpool_many",
    "flow_many",
    "notable_many",
    "print_events_many",
    "decompose_segmented",
    "enrich_many",
    "segment_ids",
    "split_rows",
    "tag_moneyness_many",
]
