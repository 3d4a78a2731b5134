"""The compiled string encoder (:mod:`chainlens.oi._encode`) against Arrow's
``dictionary_encode`` (an independent implementation): same codes and dictionary for sorted,
persisting, shuffled and reshuffled sessions, new and vanished values, empty strings, non-ASCII,
sliced and empty chunks, large_string, and enough distinct values to grow the hash table
several times; the Arrow fallback (None) for nulls and non-string columns."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens import _engine
from chainlens.oi import _encode

pytestmark = pytest.mark.skipif(not _encode.HAVE_NUMBA, reason="numba not installed")


def _arrow(col: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    enc = pc.dictionary_encode(col.combine_chunks())
    return enc.indices.to_numpy(zero_copy_only=False), enc.dictionary


def _check(col: pa.ChunkedArray) -> None:
    got = _encode.encode_strings(col)
    assert got is not None
    codes, first, dictionary = got
    want_codes, want_dict = _arrow(col)
    np.testing.assert_array_equal(codes, want_codes)
    assert dictionary.equals(want_dict)
    # first row of each code: the first occurrence
    np.testing.assert_array_equal(first, np.unique(want_codes, return_index=True)[1])


def _sessions(seed: int, n: int, sessions: int, *, shuffle: bool) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    pool = np.array([f"X{k:05d}{'é' if k % 7 == 0 else ''}" for k in range(n * 2)] + [""])
    alive = rng.random(len(pool)) < 0.5
    out = []
    for _ in range(sessions):
        alive ^= rng.random(len(pool)) < 0.05  # listings and expiries
        vals = pool[alive]
        if shuffle:
            vals = rng.permutation(vals)
        dup = rng.choice(vals, max(len(vals) // 20, 1)) if len(vals) else vals
        out.append([*vals.tolist(), *dup.tolist()])
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("typ", [pa.string(), pa.large_string()])
def test_codes_match_arrow(seed: int, shuffle: bool, typ: pa.DataType) -> None:
    parts = _sessions(seed, 3000 if seed < 3 else 40, 5, shuffle=shuffle)
    col = pa.chunked_array([pa.array(p, typ) for p in parts], typ)
    _check(col)
    # one chunk, sliced chunks, an empty chunk in the middle
    _check(pa.chunked_array([col.combine_chunks()]))
    flat = col.combine_chunks()
    _check(pa.chunked_array([flat.slice(3, 100), pa.array([], typ), flat.slice(103)], typ))


def test_underlying_like_runs_and_single_value() -> None:
    runs = [f"U{k:03d}" for k in range(50) for _ in range(30)]
    _check(pa.chunked_array([pa.array(runs), pa.array(runs[::-1]), pa.array(runs)]))
    _check(pa.chunked_array([pa.array(["A"] * 1000)]))
    _check(pa.chunked_array([pa.array([""] * 10 + ["a", ""])]))


def test_fallbacks() -> None:
    assert _encode.encode_strings(pa.chunked_array([pa.array(["a", None])])) is None
    assert _encode.encode_strings(pa.chunked_array([pa.array([1, 2])])) is None
    assert _encode.encode_strings(pa.chunked_array([], pa.string())) is None
    codes, _ = _encode.arrow_codes(pa.chunked_array([pa.array(["b", None, "a", "b"])]))
    np.testing.assert_array_equal(codes, [0, 0, 1, 0])


def test_numpy_engine_uses_arrow() -> None:
    with _engine.force("numpy"):
        assert _encode.encode_strings(pa.chunked_array([pa.array(["a"])])) is None
