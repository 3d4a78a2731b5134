"""The local runner's process pool: workers forked from a fork server that imported the
kernel's modules once (:data:`chainlens.runners.local.FORKSERVER_PRELOAD`) still run one
Polars and one Numba thread each, and the run's closing blocks are short."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numba
import polars as pl
import pytest

from chainlens.runners import local

pytestmark = pytest.mark.skipif(
    "forkserver" not in mp.get_all_start_methods(), reason="no forkserver on this platform"
)


def test_preloaded_workers_run_one_thread_each() -> None:
    before = dict(os.environ)
    ctx = local._pool_context()
    assert dict(os.environ) == before  # the parent's own environment is left as it was
    with ProcessPoolExecutor(
        2, mp_context=ctx, initializer=local._worker_init, initargs=(os.getpid(),)
    ) as ex:
        assert ex.submit(numba.get_num_threads).result() == 1
        assert ex.submit(pl.thread_pool_size).result() == 1
        pid = ex.submit(local._warm).result()
    assert pid != os.getpid()


def test_preload_lists_importable_modules() -> None:
    for name in local.FORKSERVER_PRELOAD:
        if name != "__main__":
            __import__(name)
            assert name in sys.modules


def test_short_tail_hand_worked() -> None:
    rows = [4] * 20
    ranges = local.ranges_by_rows(rows, 8, 640)  # ten blocks of two names
    got = local._short_tail(rows, ranges, 8, workers=2)
    # the last four blocks (eight names) become eight blocks of one name
    assert got == [
        (0, 2),
        (2, 4),
        (4, 6),
        (6, 8),
        (8, 10),
        (10, 12),
        *[(i, i + 1) for i in range(12, 20)],
    ]
    assert local._short_tail(rows, ranges[:8], 8, workers=2) == ranges[:8]  # too few blocks
