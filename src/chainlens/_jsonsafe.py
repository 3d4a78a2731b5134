"""One conversion of result objects to strict-JSON-ready Python values (SPEC "Command line":
numbers are JSON numbers, dates ISO strings, a value that does not exist is ``null``).

:func:`jsonable` is the only JSON sanitiser of the package: the pipeline documents, the CLI
JSON (``chainlens.cli._common.emit_json``), the report JSON and the dashboard API all use it."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np

__all__ = ["jsonable"]

_INF = float("inf")


def jsonable(o: Any) -> Any:
    """NaN/inf -> None, NumPy scalars and arrays -> Python, dates -> ISO, instants -> UTC ``Z``.

    Dict keys become strings. Exact built-in types are checked first: result documents are
    mostly floats, strings, ints, dicts and lists.

    Examples
    --------
    >>> import datetime as dt
    >>> jsonable({"a": float("nan"), 1: np.float64(2.5), "d": dt.date(2024, 3, 15)})
    {'a': None, '1': 2.5, 'd': '2024-03-15'}
    """
    ty = type(o)
    if ty is float:
        return o if -_INF < o < _INF else None
    if ty is str or ty is int or ty is bool or o is None:
        return o
    if ty is dict:
        return {str(k): jsonable(v) for k, v in o.items()}
    if ty is list:
        return [jsonable(v) for v in o]
    if (
        ty is np.ndarray
        and o.dtype.kind in "fiub"
        and (o.dtype.kind != "f" or np.isfinite(o).all())
    ):
        return o.tolist()  # finite numbers only: nothing left to clean
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return jsonable(o.tolist())
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dt.datetime):  # a naive instant is UTC
        o = o.replace(tzinfo=dt.UTC) if o.tzinfo is None else o.astimezone(dt.UTC)
        return o.isoformat().replace("+00:00", "Z")
    if isinstance(o, dt.date):
        return o.isoformat()
    if hasattr(o, "isoformat"):  # pandas Timestamp
        return o.isoformat()
    return o
