"""Keyed random streams: every draw comes from ``(seed, stream, session, underlying)``.

An underlying's draws therefore do not depend on the other underlyings or on how the universe
is chunked, so chunks can be generated in any order or in parallel with identical output.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STREAMS", "keyed", "per_underlying"]

#: Stream tags (the first spawn key).
STREAMS = {
    "universe": 1,
    "market": 2,
    "daily": 3,
    "intraday": 4,
    "listing": 5,
    "oi": 6,
    "tape": 7,
    "darkpool": 8,
    "scenario": 9,
    "darkbias": 10,
    "macro": 11,
}


def keyed(seed: int, stream: str, *keys: int) -> np.random.Generator:
    """A generator for ``(seed, stream, *keys)``."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(STREAMS[stream], *keys)))
    )


def per_underlying(
    seed: int, stream: str, session: int, uids: np.ndarray, counts: np.ndarray, width: int
) -> np.ndarray:
    """Uniforms ``(counts.sum(), width)``: ``counts[i]`` rows from underlying ``uids[i]``'s stream.

    One generator per underlying (not per row): the loop is over underlyings only.
    """
    counts = np.asarray(counts, dtype=np.int64)
    out = np.empty((int(counts.sum()), width), dtype=np.float64)
    pos = 0
    for uid, n in zip(uids.tolist(), counts.tolist(), strict=True):
        if n:
            keyed(seed, stream, session, uid).random((n, width), out=out[pos : pos + n])
            pos += n
    return out
