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

__all__ = ["instants_iso", "iso_dates", "json_bytes", "jsonable"]

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


_EPOCH = dt.date(1970, 1, 1)
#: the days since 1970-01-01 of 0001-01-01 and 9999-12-31 (``datetime.date``'s range)
_DAY_MIN, _DAY_MAX = (dt.date.min - _EPOCH).days, (dt.date.max - _EPOCH).days
_NAT = np.iinfo(np.int64).min


def iso_dates(col: Any) -> list[Any]:
    """``pc.cast(col, pa.string()).to_pylist()`` of an Arrow ``date32`` column (ISO dates,
    nulls ``None``) with one ``datetime.date.isoformat`` per distinct date: the same texts
    within 0001-9999 (a column with a date outside is cast by Arrow). Records of many rows
    with few dates (expiries, sessions) convert ~50x faster than Arrow's cast.

    Examples
    --------
    >>> import pyarrow as pa
    >>> iso_dates(pa.array([dt.date(2024, 3, 8), None, dt.date(2024, 3, 8)], pa.date32()))
    ['2024-03-08', None, '2024-03-08']
    """
    days = np.asarray(col.to_numpy(zero_copy_only=False), "datetime64[D]").view(np.int64)
    real = days[days != _NAT] if col.null_count else days  # NaT: the nulls
    if real.size and (real.min() < _DAY_MIN or real.max() > _DAY_MAX):
        import pyarrow as pa
        import pyarrow.compute as pc

        out: list[Any] = pc.cast(col, pa.string()).to_pylist()
        return out
    if days.size <= 512:  # few rows: a dict of the distinct dates
        text = {x: (_EPOCH + dt.timedelta(days=x)).isoformat() for x in set(real.tolist())}
        return [text.get(x) for x in days.tolist()]
    u, inv = np.unique(days, return_inverse=True)
    texts = np.array(
        [None if x == _NAT else (_EPOCH + dt.timedelta(days=x)).isoformat() for x in u.tolist()],
        dtype=object,
    )
    out = texts[inv.reshape(-1)].tolist()
    return out


#: microseconds since 1970-01-01 of 1000-01-01 and of the end of 9999-12-31: the instants
#: :func:`instants_iso` formats itself (four-digit years, ``datetime``'s range)
_US_MIN, _US_MAX = -30610224000000000, 253402300799999999


def instants_iso(col: Any) -> list[Any] | None:
    """``[jsonable(v) for v in col.to_pylist()]`` of an Arrow ``timestamp`` column (naive or
    UTC), formatted in one NumPy pass: ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``, nulls ``None``.

    An instant with nanoseconds gets nine digits, as ``pandas.Timestamp.isoformat`` writes
    them (Arrow's ``to_pylist`` gives Timestamps for nanosecond columns). ``None`` (format
    value by value) for what it does not take: another time zone, an instant before the year
    1000 or after 9999, nanoseconds without pandas (Arrow then refuses them), a column that
    is not a timestamp.

    Examples
    --------
    >>> import pyarrow as pa
    >>> instants_iso(pa.array([0, 1_500_000, None], pa.timestamp("us", tz="UTC")))
    ['1970-01-01T00:00:00Z', '1970-01-01T00:00:01.500000Z', None]
    """
    import pyarrow as pa

    ty = col.type
    if not pa.types.is_timestamp(ty) or ty.tz not in (None, "UTC"):
        return None
    import pyarrow.compute as pc

    ints = col.cast(pa.int64())
    ok = None
    if col.null_count:
        ok = np.asarray(pc.is_valid(ints).to_numpy(zero_copy_only=False), bool)
        ints = pc.fill_null(ints, 0)
    raw = np.asarray(ints.to_numpy(zero_copy_only=False), np.int64)
    if ty.unit == "ns":  # int64 nanoseconds: years 1677-2262
        if raw.size and raw.min() == _NAT:  # pandas' NaT: value by value
            return None
        sub_us = raw % 1000 != 0
        if sub_us.any() and not _have_pandas():
            return None  # Arrow refuses those instants without pandas: let it say so
        ns = raw
    else:
        f = {"s": 10**6, "ms": 10**3, "us": 1}[ty.unit]
        if raw.size and (raw.min() < _US_MIN // f or raw.max() > _US_MAX // f):
            return None
        ns = None
        us = raw * f
    if ns is not None:
        text = np.datetime_as_string(ns.astype("datetime64[ns]"), unit="ns").tolist()
        # pandas' Timestamp.isoformat: nine digits with nanoseconds, six with microseconds
        cut = np.where(sub_us, 29, np.where(ns % 1_000_000_000 != 0, 26, 19)).tolist()
    else:
        text = np.datetime_as_string(us.astype("datetime64[us]"), unit="us").tolist()
        cut = np.where(us % 1_000_000 != 0, 26, 19).tolist()
    out: list[Any] = [s[:c] + "Z" for s, c in zip(text, cut, strict=True)]
    if ok is not None:
        for i in np.flatnonzero(~ok).tolist():
            out[i] = None
    return out


def _have_pandas() -> bool:
    """Whether pandas imports (Arrow then converts nanosecond instants to its Timestamps)."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


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
