"""The one engine policy: when compiled (Numba) kernels run instead of their NumPy twins.

Every module with a compiled kernel (pricing greeks, quote-rule side classification, flow
group sums, the OI panel passes, the ingest row checks) asks :func:`use_numba`; none decides
on its own. Each compiled kernel has a NumPy twin with the same signature, tested against the
same slow reference, so the choice changes speed only (and, for the pricing kernels, the
last digits, which is why that choice depends on the input size only, never on history).

The policy, in order:

1. :func:`force` (tests) or the ``CHAINLENS_NO_NUMBA`` environment variable: ``1`` always
   NumPy, ``0`` always compiled (when Numba is installed);
2. otherwise ("auto"): compiled when Numba is installed and the input has at least the
   kernel's ``min_size`` rows (a module constant next to the kernel, e.g.
   ``pricing._bsm.COMPILED_MIN_SIZE``, measured where loading the compiled kernels costs
   more than it saves below it); kernels without a threshold pass ``min_size=0``.

Examples
--------
>>> with force("numpy"):
...     use_numba(10**9)
False
>>> with force("numba"):
...     use_numba(1, min_size=10**6) == numba_available()
True
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
from collections.abc import Iterator
from typing import Literal

__all__ = ["ENV_VAR", "Engine", "force", "mode", "numba_available", "use_numba"]

#: ``1`` forces NumPy everywhere, ``0`` forces the compiled kernels; unset or empty: auto.
ENV_VAR = "CHAINLENS_NO_NUMBA"

Engine = Literal["auto", "numba", "numpy"]

_forced: Engine | None = None


@functools.cache
def numba_available() -> bool:
    """Numba is installed (found without importing it: the import costs start-up time)."""
    return importlib.util.find_spec("numba") is not None


def mode() -> Engine:
    """The engine mode in force: :func:`force`, else ``CHAINLENS_NO_NUMBA``, else auto."""
    if _forced is not None:
        return _forced
    flag = os.environ.get(ENV_VAR, "")
    if flag == "0":
        return "numba"
    if flag:
        return "numpy"
    return "auto"


def use_numba(n: int | None = None, min_size: int = 0) -> bool:
    """Whether a kernel runs compiled for an input of ``n`` rows (``None``: size unknown).

    Parameters
    ----------
    n
        Rows (contracts, trades) of the input; ``None`` counts as large.
    min_size
        The kernel's auto-mode threshold (rows).
    """
    m = mode()
    if m == "numpy" or not numba_available():
        return False
    if m == "numba" or n is None:
        return True
    return n >= min_size


@contextlib.contextmanager
def force(engine: Engine) -> Iterator[None]:
    """Run the block with the engine forced (``"numba"``, ``"numpy"``; ``"auto"`` = the
    policy without the environment variable). Tests use it to run both paths."""
    global _forced
    if engine not in ("auto", "numba", "numpy"):
        raise ValueError(f"engine must be 'auto', 'numba' or 'numpy', not {engine!r}")
    before = _forced
    _forced = engine
    try:
        yield
    finally:
        _forced = before
