"""One conversion of result objects to strict-JSON-ready Python values (SPEC "Command line":
numbers are JSON numbers, dates ISO strings, a value that does not exist is ``null``).

:func:`jsonable` is the only JSON sanitiser of the package: the pipeline documents, the CLI
JSON (``chainlens.cli._common.emit_json``), the report JSON and the dashboard API all use it."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import orjson

__all__ = ["json_bytes", "jsonable"]

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


#: orjson hands these to :func:`_orjson_default` (so :func:`jsonable` decides them): subclasses
#: of the built-ins (``np.float64`` is a ``float``), dates and instants, dataclasses
_ORJSON_OPTS = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _orjson_default(o: Any) -> Any:
    v = jsonable(o)
    if v is o:  # nothing jsonable can make of it: let the fallback decide (or raise)
        raise TypeError(type(o).__name__)
    return v


def json_bytes(o: Any) -> bytes:
    """Strict JSON text (UTF-8) of ``o``: what ``json.dumps(jsonable(o), allow_nan=False)``
    gives, as a value (``json.loads`` of both is equal), not byte for byte (compact
    separators, UTF-8 instead of ``\\u`` escapes; floats are the shortest round-trip text in
    both).

    orjson encodes the built-in types itself (NaN and inf become ``null``, as in
    :func:`jsonable`); every other value (NumPy scalars, dates, instants, subclasses) goes
    through :func:`jsonable`. What orjson refuses (non-``str`` keys, integers beyond 64 bits,
    lone surrogates, nesting deeper than 255) falls back to ``json.dumps(jsonable(o))``, which
    raises ``TypeError`` / ``ValueError`` for what is not JSON at all.

    Examples
    --------
    >>> json_bytes({"a": float("nan"), "b": np.float64(2.5), "d": dt.date(2024, 3, 15)})
    b'{"a":null,"b":2.5,"d":"2024-03-15"}'
    >>> json_bytes({1: 2**70})
    b'{"1": 1180591620717411303424}'
    """
    try:
        return orjson.dumps(o, default=_orjson_default, option=_ORJSON_OPTS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(jsonable(o), allow_nan=False).encode()
